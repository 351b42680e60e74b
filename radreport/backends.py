"""Training backends behind one interface, and the choice between them.

- unsloth:  Unsloth's FastLanguageModel in 4-bit with LoRA (NVIDIA GPU + the `gpu` extra)
- hf-qlora: transformers + bitsandbytes NF4 (double quant, bf16 compute) + peft LoRA (NVIDIA GPU + bitsandbytes)
- cpu-lora: fp32 LoRA, for the embedded default and tests
- auto:     unsloth when CUDA and unsloth are present, else hf-qlora on CUDA, else cpu-lora

A backend that cannot run here fails at once, before any model loads, naming what is missing. Unsloth is imported
only inside its loader: importing it patches transformers.
"""

import importlib.util
import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)
BACKENDS = ("auto", "unsloth", "hf-qlora", "cpu-lora")
NEEDS = {"unsloth": ("cuda", "unsloth", "bitsandbytes"), "hf-qlora": ("cuda", "bitsandbytes"), "cpu-lora": ()}


class BackendUnavailable(SystemExit):
    """The requested backend cannot run on this machine."""


@dataclass(frozen=True)
class Environment:
    cuda: bool
    unsloth: bool
    bitsandbytes: bool

    @classmethod
    def detect(cls) -> "Environment":
        import torch

        return cls(cuda=torch.cuda.is_available(), unsloth=importlib.util.find_spec("unsloth") is not None,
                   bitsandbytes=importlib.util.find_spec("bitsandbytes") is not None)


def select_backend(requested: str, env: Environment | None = None) -> tuple[str, str]:
    """(backend, why it was chosen)."""
    env = env or Environment.detect()
    if requested == "auto":
        if env.cuda and env.unsloth and env.bitsandbytes:
            return "unsloth", "auto: CUDA and unsloth are present"
        if env.cuda and env.bitsandbytes:
            return "hf-qlora", "auto: CUDA is present but unsloth is not installed"
        return "cpu-lora", "auto: no CUDA GPU" if not env.cuda else "auto: CUDA without bitsandbytes"
    if requested not in NEEDS:
        raise BackendUnavailable(f"train.backend={requested!r}: choose one of {BACKENDS}")
    missing = [need if need == "cuda" else f"the {need} package (pip install '.[gpu]')"
               for need in NEEDS[requested] if not getattr(env, need)]
    if missing:
        what = ["an NVIDIA GPU with CUDA" if m == "cuda" else m for m in missing]
        raise BackendUnavailable(f"train.backend={requested} cannot run here: missing {' and '.join(what)}")
    return requested, f"requested {requested}"
