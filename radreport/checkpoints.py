"""A trained run's LoRA checkpoints: one folder, self-describing.

    manifest.json          base model, task, prompt template, steps, training summary
    log_history.json       the trainer's per-step log (loss, learning rate, grad norm)
    tokenizer/             the tokenizer the adapters were trained with
    step-<N>/              adapter_config.json + adapter_model.safetensors at optimizer step N
"""

import json
from dataclasses import dataclass
from pathlib import Path


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
