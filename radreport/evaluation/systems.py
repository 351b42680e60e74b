"""The names of the systems an evaluation scores: each baseline by its own name, the untuned base model `base`,
and each checkpoint `step-N`. The one place that turns a step into a system name and back."""

BASE = "base"
CHECKPOINT_PREFIX = "step-"


def system_of_step(step: int) -> str:
    return f"{CHECKPOINT_PREFIX}{step}"


def is_checkpoint(system: str) -> bool:
    return system.startswith(CHECKPOINT_PREFIX)


def step_of_system(system: str) -> int:
    return int(system.removeprefix(CHECKPOINT_PREFIX))
