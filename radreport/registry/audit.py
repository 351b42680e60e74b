"""The audit trail of promotion decisions, kept where the registry is: one registered-model tag per entry
(`audit.<nanoseconds>-<random>`), written once and never overwritten, so every client of a shared registry sees
every decision, and two deciders writing at once both stay on record.

A per-machine file (<state dir>/audit/promotions.jsonl) held the trail before; an embedded store moves it into the
registry once (`migrate_local_log`) and keeps the file, renamed, beside it."""

import json
import secrets
import time
from pathlib import Path

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

PREFIX = "audit."


def append(client: MlflowClient, name: str, entry: dict) -> None:
    key = f"{PREFIX}{time.time_ns():020d}-{secrets.token_hex(4)}"
    client.set_registered_model_tag(name, key, json.dumps(entry, separators=(",", ":")))


def entries(client: MlflowClient, name: str) -> list[dict]:
    """Every entry for one model, oldest first."""
    tags = client.get_registered_model(name).tags
    return [json.loads(tags[key]) for key in sorted(k for k in tags if k.startswith(PREFIX))]


def decisions_of(client: MlflowClient, name: str, version: int) -> list[dict]:
    """Every decision on record for one version, oldest first (an intent is followed by its decision or a settle
    entry, so intents are left out)."""
    return [e for e in entries(client, name) if e["version"] == version and e["action"] != "intent"]


def migrate_local_log(client: MlflowClient, log: Path) -> int:
    """Move a per-machine audit log's entries into the registry, once: the file is renamed after; entries of
    models this registry does not hold stay in the renamed file only. Returns how many moved."""
    if not log.is_file() or log.is_symlink():
        return 0
    moved = 0
    for line in log.read_text().splitlines():
        entry = json.loads(line)
        try:
            append(client, entry["model"], {**entry, "migrated_from": str(log)})
            moved += 1
        except MlflowException:  # a model deleted since, or one of another registry
            pass
    log.rename(log.with_name(log.name + ".migrated"))
    return moved
