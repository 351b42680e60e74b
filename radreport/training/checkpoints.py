"""A trained run's LoRA checkpoints: one folder, self-describing.

    manifest.json          base model, task, instruction and prompt template as trained, training summary
    log_history.json       the trainer's per-step log (loss, learning rate, grad norm)
    tokenizer/             the tokenizer the adapters were trained with (an image model's processor)
    step-<N>/              adapter_config.json + adapter_model.safetensors at optimizer step N
"""

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from radreport.errors import RadreportError


@dataclass
class CheckpointSet:
    path: str

    @property
    def manifest(self) -> dict:
        return json.loads((Path(self.path) / "manifest.json").read_text())

    @property
    def steps(self) -> list[int]:
        return sorted(int(p.name.split("-")[1]) for p in Path(self.path).glob("step-*"))

    def adapter(self, step: int) -> Path:
        return Path(self.path) / f"step-{step}"

    @property
    def tokenizer(self) -> Path:
        return Path(self.path) / "tokenizer"

    @property
    def log_history(self) -> list[dict]:
        return json.loads((Path(self.path) / "log_history.json").read_text())


def is_train_output(folder: Path) -> bool:
    """What `train` leaves: a manifest naming its training config, tokenizer, step-N adapters, retrieval index."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    expected = {"manifest.json", "log_history.json", "tokenizer", "retrieval.jsonl"}
    return (isinstance(manifest, dict) and "train_config" in manifest
            and all(p.name in expected or p.name.startswith("step-") for p in folder.iterdir()))


def clear_train_output(out: Path, overwrite: bool) -> None:
    """Make room for a training run's checkpoints: an earlier run's are replaced, anything else only when asked."""
    if out.is_dir() and any(out.iterdir()) and not (overwrite or is_train_output(out)):
        raise RadreportError(f"train --out {out}: not empty and not an earlier `train` output; choose a new folder "
                             "or pass --overwrite to delete it")
    if out.exists():
        shutil.rmtree(out)


ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")


def train_manifest(cfg, task: str, summary: dict, **specifics) -> dict:
    """What a training run's manifest says, text or image: the base model, the task, the config and summary, and
    what the modality adds (the instruction and prompt template, or the prompt and the images per study)."""
    return {"base_model": cfg.model, "task": task, **specifics, "train_config": cfg.model_dump(), "summary": summary}


def collect_checkpoints(work_dir: Path, out_dir: Path, tokenizer, manifest: dict, log_history: list[dict]) -> CheckpointSet:
    """Keep the adapters (not optimizer state) of the trainer's checkpoints in `work_dir`, plus what is needed to
    use them (the tokenizer, or an image model's processor); `work_dir` is removed."""
    for checkpoint in sorted(work_dir.glob("checkpoint-*")):
        if not all((checkpoint / name).is_file() for name in ADAPTER_FILES):
            continue  # a checkpoint left half-written by an interrupted run
        step_dir = out_dir / f"step-{int(checkpoint.name.split('-')[1])}"
        step_dir.mkdir(parents=True, exist_ok=True)
        for name in ADAPTER_FILES:
            shutil.copy2(checkpoint / name, step_dir / name)
    shutil.rmtree(work_dir)
    getattr(tokenizer, "tokenizer", tokenizer).padding_side = "left"  # a processor's own tokenizer
    tokenizer.save_pretrained(out_dir / "tokenizer")
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2))
    (out_dir / "log_history.json").write_text(json.dumps(log_history, indent=2))
    return CheckpointSet(str(out_dir))
