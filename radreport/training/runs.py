"""What text and image training share around transformers' Trainer, so the two cannot drift: the number of
optimizer steps, the stop on a non-finite loss, the run folder a rerun resumes from, and which of its checkpoints
stay on disk. Every checkpoint left there becomes a `step-N` adapter (`checkpoints.collect_checkpoints`)."""

import hashlib
import json
import logging
import math
import shutil
from pathlib import Path

from radreport import tracking
from radreport.config import LoraTrainConfig
from radreport.paths import home

log = logging.getLogger(__name__)


def optimizer_steps(cfg: LoraTrainConfig, examples: int) -> int:
    """max_steps, or enough steps for `epochs` passes over `examples`."""
    if cfg.epochs is None:
        return cfg.max_steps
    return max(1, math.ceil(cfg.epochs * examples / (cfg.batch_size * cfg.grad_accum)))


def stop_on_non_finite():
    """A callback that stops training with a clear error when the logged loss or gradient norm is NaN or
    infinite (trl's fused loss can report 0 while the gradients are NaN); earlier checkpoints stay."""
    from transformers import TrainerCallback

    class StopOnNonFinite(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            for name in ("loss", "grad_norm"):
                value = (logs or {}).get(name)
                if value is not None and not math.isfinite(value):
                    saved = sorted(Path(args.output_dir).glob("checkpoint-*"))
                    raise FloatingPointError(f"training {name} became {value} at step {state.global_step}; "
                                             f"last good checkpoint: {saved[-1] if saved else 'none'}")

    return StopOnNonFinite()


def checkpoint_step(path: Path) -> int:
    return int(path.name.split("-")[1])


def run_dir(rows: list[dict], cfg: LoraTrainConfig, task: str) -> Path:
    """Where a run with these examples and this config keeps its trainer checkpoints, so a rerun can resume."""
    identity = json.dumps([rows, cfg.model_dump(exclude={"resume"}), task], default=str)
    return home() / "runs" / f"train-{hashlib.sha256(identity.encode()).hexdigest()[:16]}"


def checkpoint_fault(checkpoint: Path) -> str | None:
    """Why a trainer checkpoint cannot be resumed from, or None. Each file is read as resuming will read it, so
    a half-written or corrupt one is found here rather than after the model has loaded."""
    import torch
    from safetensors import safe_open

    try:
        json.loads((checkpoint / "trainer_state.json").read_text())
        json.loads((checkpoint / "adapter_config.json").read_text())
        with safe_open(str(checkpoint / "adapter_model.safetensors"), "pt") as weights:
            if not list(weights.keys()):
                return "adapter_model.safetensors holds no tensors"
        for state in ("optimizer.pt", "scheduler.pt"):
            torch.load(checkpoint / state, map_location="cpu", weights_only=True)
        read_rng_state(checkpoint / "rng_state.pth")
    except Exception as error:  # noqa: BLE001 - any way of failing to read it means "not resumable"
        return f"{type(error).__name__}: {str(error).splitlines()[0][:120] if str(error) else 'unreadable'}"
    return None


def read_rng_state(path: Path) -> None:
    """Load the trainer's saved random states as resuming does, into throwaway generators (the global ones are
    left as they are)."""
    import random

    import numpy as np
    import torch
    from transformers.trainer_pt_utils import safe_globals

    with safe_globals():
        states = torch.load(path, map_location="cpu", weights_only=True)
    random.Random().setstate(states["python"])
    np.random.RandomState().set_state(states["numpy"])
    torch.Generator().set_state(states["cpu"])


def latest_complete_checkpoint(work_dir: Path) -> Path | None:
    """The newest checkpoint that reads back whole (state, adapter weights, optimizer, scheduler, random states);
    a newer half-written or corrupt one is skipped with a warning saying why."""
    checkpoints = sorted(work_dir.glob("checkpoint-*"), key=checkpoint_step, reverse=True)
    for checkpoint in checkpoints:
        fault = checkpoint_fault(checkpoint)
        if fault is None:
            return checkpoint
        log.warning("skipping checkpoint %s: %s", checkpoint, fault)
    return None


def resume_point(work_dir: Path, resume: bool, clears: bool = True) -> Path | None:
    """The checkpoint to resume from, or None for a fresh start, which clears `work_dir` (where `clears`: one rank
    of several) so no checkpoint of an earlier attempt may be mistaken for this run's."""
    resume_from = latest_complete_checkpoint(work_dir) if resume else None
    if resume_from:
        log.warning("resuming from %s", resume_from)
        tracking.set_tags({"train_resumed_from": resume_from.name})
    elif work_dir.exists() and clears:
        shutil.rmtree(work_dir)
    return resume_from


def prune_checkpoints(work_dir: Path, keep_last: int | None, best_step: int | None) -> None:
    """Delete every checkpoint but the last `keep_last` and the best by eval loss. (The trainer's own
    save_total_limit=1 deletes the last one at the end of training when a best one is tracked.)"""
    if not keep_last:
        return
    saved = sorted(work_dir.glob("checkpoint-*"), key=checkpoint_step)
    for path in saved[:-keep_last]:
        if checkpoint_step(path) != best_step:
            shutil.rmtree(path)


def retention(keep_last: int | None):
    from transformers import TrainerCallback

    class Retention(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            if state.is_world_process_zero:  # the rank that saves is the one that prunes
                prune_checkpoints(Path(args.output_dir), keep_last, state.best_global_step)

    return Retention()


def save_last_step(trainer, work_dir: Path, cfg: LoraTrainConfig, evaluate: bool) -> None:
    """The last step's checkpoint where it did not fall on save_steps (its validation loss too, with `evaluate`),
    so the adapter training ended with is always among those kept."""
    if trainer.state.global_step % cfg.save_steps:
        trainer.save_model(str(work_dir / f"checkpoint-{trainer.state.global_step}"))  # rank 0 writes (FSDP: gathers)
        if evaluate:
            trainer.evaluate()
        if trainer.is_world_process_zero():
            prune_checkpoints(work_dir, cfg.keep_last_checkpoints, trainer.state.best_global_step)
