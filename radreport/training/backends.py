"""Training backends behind one interface, and the choice between them.

- unsloth:  Unsloth's FastLanguageModel in 4-bit with LoRA (NVIDIA GPU + the `gpu` extra)
- hf-qlora: transformers + bitsandbytes NF4 (double quant, bf16 compute) + peft LoRA (NVIDIA GPU + bitsandbytes)
- cpu-lora: fp32 LoRA, for the embedded default and tests
- auto:     unsloth when CUDA and unsloth are present, else hf-qlora on CUDA, else cpu-lora

A backend that cannot run here fails at once, before any model loads, naming what is missing. Unsloth patches trl,
transformers and peft as it is imported, so it must come before them: `import_unsloth_first` does that as soon as
the backend is known, before the pipeline (or a benchmark) imports anything else. hf-qlora on a CPU (bitsandbytes
0.50 runs 4-bit there, slowly) is allowed with RADREPORT_QLORA_ON_CPU=1: the GPU scripts' --smoke runs and tests.
"""

import importlib.util
import logging
import os
import sys
from dataclasses import dataclass

from radreport.errors import RadreportError

log = logging.getLogger(__name__)
BACKENDS = ("auto", "unsloth", "hf-qlora", "cpu-lora")
NEEDS = {"unsloth": ("cuda", "unsloth", "bitsandbytes"), "hf-qlora": ("cuda", "bitsandbytes"), "cpu-lora": ()}
PATCHED_BY_UNSLOTH = ("trl", "transformers", "peft")
QLORA_ON_CPU = "RADREPORT_QLORA_ON_CPU"


class BackendUnavailable(RadreportError):
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
    needs = [n for n in NEEDS[requested] if not (n == "cuda" and requested == "hf-qlora" and qlora_on_cpu())]
    missing = [need if need == "cuda" else f"the {need} package (pip install '.[gpu]')"
               for need in needs if not getattr(env, need)]
    if missing:
        what = ["an NVIDIA GPU with CUDA" if m == "cuda" else m for m in missing]
        raise BackendUnavailable(f"train.backend={requested} cannot run here: missing {' and '.join(what)}")
    return requested, f"requested {requested}"


def qlora_on_cpu() -> bool:
    return os.environ.get(QLORA_ON_CPU) == "1"


def import_unsloth_first(backend: str) -> None:
    """Import Unsloth before trl, transformers and peft when it is the backend (it patches them as it loads: a
    trl imported earlier keeps its own SFTTrainer). A no-op for the other backends."""
    if backend != "unsloth" or "unsloth" in sys.modules:
        return
    early = [name for name in PATCHED_BY_UNSLOTH if name in sys.modules]
    if early:
        log.warning("unsloth is imported after %s: those keep their unpatched code; import it first "
                    "(run.py does, before the pipeline loads)", ", ".join(early))
    importlib.import_module("unsloth")


def prepare_backend(requested: str) -> None:
    """Import Unsloth now, before a pipeline imports trl/transformers/peft, when it is the backend here."""
    try:
        backend, _ = select_backend(requested)
    except BackendUnavailable:
        return  # it may run elsewhere (a GPU step operator): the training step decides, and fails loudly, there
    import_unsloth_first(backend)
