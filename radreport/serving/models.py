"""Serve a registered version: its adapter on its base model, writing impressions for new findings (text models) or
region-structured reports for a study's images (image models)."""

import json
from pathlib import Path

from radreport.errors import RadreportError
from radreport.inference.checkpoint_model import CheckpointModel
from radreport.modality import TEXT, Modality
from radreport.paths import home
from radreport.registry.names import inside
from radreport.registry.store import aliases_of, download_checkpoint, resolve_version


def served_ids(client, name: str, version: int, ttl_s: float = 10.0):
    """A function giving the ids this version answers to: NAME@version, and NAME@alias for each registry alias that
    points at it now (re-read every `ttl_s`: after a promotion, NAME@champion stops naming an old version)."""
    import time

    state = {"at": float("-inf"), "ids": [f"{name}@{version}"]}

    def ids() -> list[str]:
        if time.monotonic() - state["at"] > ttl_s:
            try:
                aliases = aliases_of(client, name, version)
            except Exception:  # noqa: BLE001 - the registry unreachable: keep answering to what was known
                return state["ids"]
            state["ids"] = [f"{name}@{version}"] + [f"{name}@{a}" for a in aliases]
            state["at"] = time.monotonic()
        return state["ids"]

    return ids


MARKER = ".radreport-download"  # written first into every folder fetch_whole creates


def fetch_whole(client, name: str, version: int, local: Path) -> None:
    """Download into a private folder and rename it into place: an interrupted download never leaves a folder
    that looks like a model. A leftover without a manifest is cleared only if radreport wrote it (its marker)."""
    import os
    import shutil

    local.parent.mkdir(parents=True, exist_ok=True)
    if local.exists() and not (local / "manifest.json").exists():
        if not (local / MARKER).is_file() or local.is_symlink():
            raise RadreportError(f"{local} exists and was not written by radreport: move it away")
        shutil.rmtree(local)
    partial = local.parent / f".{local.name}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    try:
        partial.mkdir()
        (partial / MARKER).write_text(f"{name} v{version}\n")
        download_checkpoint(client, name, version, partial)
        partial.rename(local)
    except OSError:
        if not (local / "manifest.json").exists():  # not another server that finished first
            raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)


class RegisteredModel(CheckpointModel):
    """A registered version, downloaded once into the state directory."""

    def __init__(self, client, name: str, version: int):
        from radreport.training.checkpoints import CheckpointSet

        version = resolve_version(client, name, str(version))  # a checked name and a real version, before the disk
        local = inside(home() / "serving", f"{name}-v{version}")
        if not (local / "manifest.json").exists():
            fetch_whole(client, name, version, local)
        super().__init__(CheckpointSet(str(local)))


def read_inputs(path: Path, modality: Modality = TEXT) -> list[dict]:
    """JSONL rows, each with a `findings` (or `input`) text, or for an image model an `images` list of files;
    one-line errors name the file and line."""
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise RadreportError(f"{path}:{number}: invalid JSON ({err.msg})") from None
        problem = modality.row_problem(row)
        if problem:
            raise RadreportError(f"{path}:{number}: {problem}")
        rows.append(row)
    return rows
