"""Export a trained adapter as is (adapter, tokenizer, manifest: what the registry stores and serving loads) or
merged into its base model's 16-bit weights, for servers that take no adapters.

A merge needs the base in 16 bits. A base stored quantized (e.g. `unsloth/llama-3-8b-Instruct-bnb-4bit`) has no
16-bit weights to merge into, so the export is refused unless a 16-bit copy of the same model is given. A base that
was only quantized when loaded (hf-qlora, unsloth from a 16-bit folder) merges from its 16-bit folder."""

import json
import shutil
from pathlib import Path

from radreport.errors import RadreportError
from radreport.modality import of_manifest
from radreport.training.checkpoints import CheckpointSet
from radreport.training.models import resolve_model
from radreport.training.retrieval import FILE as RETRIEVAL_FILE

DTYPES = ("bfloat16", "float16", "float32")
FOUR_BIT_BACKENDS = ("unsloth", "hf-qlora")


class ExportRefused(RadreportError):
    """The merge cannot be done faithfully here."""


def stored_quantization(model_path: Path | str) -> str | None:
    """The quantization a checkpoint's weights are stored in (None: plain 16/32-bit weights)."""
    from transformers import AutoConfig

    quantization = getattr(AutoConfig.from_pretrained(model_path), "quantization_config", None)
    if not quantization:
        return None
    quantization = quantization if isinstance(quantization, dict) else quantization.to_dict()
    bits = "4-bit" if quantization.get("load_in_4bit") else "8-bit" if quantization.get("load_in_8bit") else ""
    return " ".join(filter(None, [quantization.get("quant_method", "quantized"), bits]))


def sixteen_bit_base(manifest: dict, base: str | None) -> Path | str:
    """The 16-bit weights to merge into: `base` when given, else the model the adapter was trained on."""
    name = base or manifest["base_model"]
    model_path = resolve_model(name)
    quantization = stored_quantization(model_path)
    if quantization:
        trained = manifest.get("summary", {}).get("backend", "?")
        raise ExportRefused(f"export --merged: base model {name!r} is stored {quantization} (trained with {trained}); "
                            "a merged 16-bit model needs the same model's 16-bit weights: pass --base PATH")
    return model_path


def export_adapter(checkpoints: CheckpointSet, step: int, out: Path) -> Path:
    shutil.copytree(checkpoints.adapter(step), out)
    shutil.copytree(checkpoints.tokenizer, out / "tokenizer")
    if (Path(checkpoints.path) / RETRIEVAL_FILE).exists():
        shutil.copy2(Path(checkpoints.path) / RETRIEVAL_FILE, out / RETRIEVAL_FILE)
    (out / "radreport.json").write_text(json.dumps({**checkpoints.manifest, "step": step}, indent=2))
    return out


def export_merged(checkpoints: CheckpointSet, step: int, out: Path, base: str | None = None,
                  dtype: str = "bfloat16") -> Path:
    """A standalone model folder: base weights with the adapter merged in, the tokenizer, and the manifest."""
    if dtype not in DTYPES:
        raise ExportRefused(f"export --dtype {dtype}: choose one of {DTYPES}")
    manifest = checkpoints.manifest
    base_path = sixteen_bit_base(manifest, base)  # refuses before anything loads

    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoModelForImageTextToText, AutoProcessor, AutoTokenizer

    takes_images = of_manifest(manifest).takes_images
    model_class, processor_class = ((AutoModelForImageTextToText, AutoProcessor) if takes_images
                                    else (AutoModelForCausalLM, AutoTokenizer))
    model = model_class.from_pretrained(base_path, dtype=getattr(torch, dtype))
    merged = PeftModel.from_pretrained(model, checkpoints.adapter(step)).merge_and_unload()
    merged.save_pretrained(out, safe_serialization=True)
    processor_class.from_pretrained(checkpoints.tokenizer).save_pretrained(out)
    note = ("the adapter was trained against 4-bit weights; merged into 16-bit ones its outputs differ slightly "
            "from the 4-bit model's" if manifest.get("summary", {}).get("backend") in FOUR_BIT_BACKENDS else None)
    (out / "radreport.json").write_text(json.dumps(
        {**manifest, "step": step, "merged_into": str(base or manifest["base_model"]), "dtype": dtype,
         "merge_note": note}, indent=2))
    return out
