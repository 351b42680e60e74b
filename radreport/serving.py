"""Serve a registered version: its adapter on its base model, writing impressions for new findings (text models) or
region-structured reports for a study's images (image models)."""

import json
from pathlib import Path

from radreport.evaluation import inference_model
from radreport.formatting import INSTRUCTIONS
from radreport.generation import Completion, complete, generate
from radreport.models import load_tokenizer
from radreport.paths import home
from radreport.registry import download_checkpoint
from radreport.retrieval import prompts_for


def served_ids(client, name: str, version: int, ttl_s: float = 10.0):
    """A function giving the ids this version answers to: NAME@version, and NAME@alias for each registry alias that
    points at it now (re-read every `ttl_s`: after a promotion, NAME@champion stops naming an old version)."""
    import time

    state = {"at": float("-inf"), "ids": [f"{name}@{version}"]}

    def ids() -> list[str]:
        if time.monotonic() - state["at"] > ttl_s:
            try:
                aliases = client.get_registered_model(name).aliases
            except Exception:  # noqa: BLE001 - the registry unreachable: keep answering to what was known
                return state["ids"]
            state["ids"] = [f"{name}@{version}"] + [f"{name}@{a}" for a, v in aliases.items() if int(v) == version]
            state["at"] = time.monotonic()
        return state["ids"]

    return ids


def fetch_whole(client, name: str, version: int, local: Path) -> None:
    """Download into a private folder and rename it into place: an interrupted download never leaves a folder
    that looks like a model (a leftover from one is cleared first)."""
    import os
    import shutil

    local.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(local, ignore_errors=True)  # no manifest: a download that died before the rename existed
    partial = local.parent / f".{local.name}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    try:
        download_checkpoint(client, name, version, partial)
        partial.rename(local)
    except OSError:
        if not (local / "manifest.json").exists():  # not another server that finished first
            raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)


class CheckpointModel:
    """A trained adapter on its base model, ready to write: impressions for findings texts (text models) or
    region-structured reports for studies' images (image models)."""

    def __init__(self, checkpoints):
        self.checkpoints = checkpoints
        manifest = checkpoints.manifest
        self.task, self.takes_images = manifest["task"], manifest.get("takes_images", False)
        if self.takes_images:
            from radreport.vision_training import load_vision_adapter

            self.model, self.tokenizer = load_vision_adapter(checkpoints, checkpoints.steps[-1])
        else:
            self.model = inference_model(checkpoints, checkpoints.steps[-1])
            self.tokenizer = load_tokenizer(checkpoints.tokenizer)

    def generate(self, inputs: list, batch_size: int = 8, max_new_tokens: int = 96) -> list[str]:
        """Findings texts for a text model; lists of image paths (one list per study) for an image model."""
        if self.takes_images:
            from radreport.vision_training import generate_reports

            records = [{"images": json.dumps(paths), "prompt": self.checkpoints.manifest["prompt_template"]}
                       for paths in inputs]
            return generate_reports(self.model, self.tokenizer, records, max_new_tokens, batch_size)
        prompts = prompts_for(self.checkpoints, [INSTRUCTIONS[self.task]] * len(inputs), inputs)
        return generate(self.model, self.tokenizer, prompts, batch_size, max_new_tokens, desc="generating")

    def complete(self, text: str, max_new_tokens: int, temperature: float = 0.0, top_p: float = 1.0,
                 stop: list[str] | None = None, seed: int | None = None, streamer=None,
                 json_schema: dict | None = None) -> Completion:
        """One input (a findings text for findings_to_impression) in the task's prompt, as in training."""
        prompt = prompts_for(self.checkpoints, [INSTRUCTIONS[self.task]], [text])[0]
        return complete(self.model, self.tokenizer, prompt, max_new_tokens, temperature, top_p, stop, streamer, seed,
                        json_schema)


class RegisteredModel(CheckpointModel):
    """A registered version, downloaded once into the state directory."""

    def __init__(self, client, name: str, version: int):
        from radreport.checkpoints import CheckpointSet

        local = home() / "serving" / f"{name}-v{version}"
        if not (local / "manifest.json").exists():
            fetch_whole(client, name, version, local)
        super().__init__(CheckpointSet(str(local)))


def read_inputs(path: Path, takes_images: bool = False) -> list[dict]:
    """JSONL rows, each with a `findings` (or `input`) text, or for an image model an `images` list of files;
    one-line errors name the file and line."""
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise SystemExit(f"{path}:{number}: invalid JSON ({err.msg})") from None
        problem = images_problem(row) if takes_images else findings_problem(row)
        if problem:
            raise SystemExit(f"{path}:{number}: {problem}")
        rows.append(row)
    return rows


def findings_problem(row) -> str | None:
    text = row.get("findings", row.get("input")) if isinstance(row, dict) else None
    return None if isinstance(text, str) and text.strip() else "needs a non-empty 'findings' (or 'input') text field"


def images_problem(row) -> str | None:
    images = row.get("images") if isinstance(row, dict) else None
    if not isinstance(images, list) or not images or not all(isinstance(p, str) for p in images):
        return "needs an 'images' list of image files (this model writes reports from images)"
    missing = next((p for p in images if not Path(p).is_file()), None)
    return f"image {missing} not found" if missing else None
