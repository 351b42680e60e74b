"""Serve a registered version: its adapter on its base model, writing impressions for new findings."""

import json
from pathlib import Path

from radreport.evaluation import load_adapters
from radreport.formatting import INSTRUCTIONS, prompt
from radreport.generation import generate
from radreport.paths import home
from radreport.registry import download_checkpoint


class RegisteredModel:
    def __init__(self, client, name: str, version: int):
        local = home() / "serving" / f"{name}-v{version}"
        if not (local / "manifest.json").exists():
            local.parent.mkdir(parents=True, exist_ok=True)
            download_checkpoint(client, name, version, local)
        from radreport.checkpoints import CheckpointSet

        self.checkpoints = CheckpointSet(str(local))
        if self.checkpoints.manifest.get("takes_images"):
            raise SystemExit(f"{name} v{version} writes reports from images; generate and serve take findings text "
                             "only so far: use radreport.vision_training.generate_reports")
        self.task = self.checkpoints.manifest["task"]
        self.model, self.tokenizer = load_adapters(self.checkpoints, self.checkpoints.steps)

    def generate(self, inputs: list[str], batch_size: int = 8, max_new_tokens: int = 96) -> list[str]:
        prompts = [prompt(INSTRUCTIONS[self.task], text) for text in inputs]
        return generate(self.model, self.tokenizer, prompts, batch_size, max_new_tokens, desc="generating")


def read_inputs(path: Path) -> list[dict]:
    """JSONL rows, each with a `findings` (or `input`) text; one-line errors name the file and line."""
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise SystemExit(f"{path}:{number}: invalid JSON ({err.msg})") from None
        text = row.get("findings", row.get("input")) if isinstance(row, dict) else None
        if not isinstance(text, str) or not text.strip():
            raise SystemExit(f"{path}:{number}: needs a non-empty 'findings' (or 'input') text field")
        rows.append(row)
    return rows
