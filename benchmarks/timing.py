"""What the training benchmarks measure: the seconds of each optimizer step after warm-up (no compilation, no save,
no evaluation inside the window), tokens from the trainer's own count, and peak memory (allocated, and reserved by
the allocator)."""

import time


def step_timer():
    """A trainer callback that records each optimizer step's wall time, between torch.cuda.synchronize() calls where
    a GPU is present: CUDA queues kernels and returns, so without them a step's time is when its work was queued,
    not done."""
    import torch
    from transformers import TrainerCallback

    sync = torch.cuda.synchronize if torch.cuda.is_available() else lambda: None

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.seconds = []

        def on_step_begin(self, args, state, control, **kwargs):
            sync()
            self.started = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            sync()
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


def peak_reserved_gb() -> float | None:
    """Peak GPU memory the caching allocator held: the allocated peak plus its cache, what the device had to have
    free. None on a CPU."""
    import torch

    return torch.cuda.max_memory_reserved() / 2**30 if torch.cuda.is_available() else None
