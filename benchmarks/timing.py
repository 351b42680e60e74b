"""What the training benchmarks measure: the seconds of each optimizer step after warm-up (no compilation, no save,
no evaluation inside the window), tokens from the trainer's own count, and peak memory."""

import time


def step_timer():
    """A trainer callback that records each optimizer step's wall time."""
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.seconds = []

        def on_step_begin(self, args, state, control, **kwargs):
            self.started = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            self.seconds.append(time.perf_counter() - self.started)

    return StepTimer()


def timed_tokens(log_history: list[dict], warmup: int) -> int | None:
    """Tokens trained in the steps after `warmup` (the trainer logs a running `num_tokens` each step), or None where
    the trainer does not log them (Unsloth's)."""
    counts = [e["num_tokens"] for e in log_history if "num_tokens" in e and "loss" in e]
    if not counts:
        return None
    return counts[-1] - counts[warmup - 1] if warmup else counts[-1]


def reset_peak_memory() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def peak_memory_gb() -> float:
    """Peak GPU memory allocated, or on a CPU the process's peak resident memory."""
    import resource

    import torch

    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
