"""The audit trail of promotion decisions, kept where the registry is: one registered-model tag per entry (tags.py
names and writes them), written once and never overwritten, so every client of a shared registry sees every
decision, and two deciders writing at once both stay on record. `record` puts one decision on record everywhere it
is kept: the version's gate tags, the trail, and the version's MLflow run.

A per-machine file (<state dir>/audit/promotions.jsonl) held the trail before; an embedded store moves it into the
registry once (`migrate_local_log`) and keeps the file, renamed, beside it."""

import getpass
import json
import socket
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from radreport.paths import home
from radreport.registry.decision import Decision
from radreport.registry.model_card import refresh_card_quietly
from radreport.registry.tags import append_audit_entry, audit_entries_of, clear_pending, set_decision


def actor() -> str:
    return f"{getpass.getuser()}@{socket.gethostname()}"


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def record(client: MlflowClient, name: str, version: int, action: str, decision: Decision, by: str,
           candidate: dict, champion: Optional[dict], champion_number: Optional[int]) -> dict:
    """The decision as the version's gate tags, an audit entry and a file in the version's run; the intent it
    carried out is cleared, and the version's model card rebuilt."""
    entry = {"time": now(), "model": name, "version": version,
             "action": action, "result": decision.alias, "reason": decision.reason, "checks": decision.checks,
             "candidate": candidate, "champion_version": champion_number, "champion": champion, "by": by}
    set_decision(client, name, version, decision.alias, decision.reason, action, by, entry["time"], champion_number)
    append_audit_entry(client, name, entry)
    run_id = client.get_model_version(name, str(version)).run_id
    if run_id:
        client.log_text(run_id, json.dumps(entry, indent=2),
                        f"audit/{entry['time'].replace(':', '')}-{action}-v{version}.json")
    clear_pending(client, name)
    refresh_card_quietly(client, name, version)
    return entry


def entries(client: MlflowClient, name: str) -> list[dict]:
    """Every entry for one model, oldest first."""
    return audit_entries_of(client.get_registered_model(name).tags)


def decisions_of(client: MlflowClient, name: str, version: int) -> list[dict]:
    """Every decision on record for one version, oldest first (an intent is followed by its decision or a settle
    entry, so intents are left out)."""
    return [e for e in entries(client, name) if e["version"] == version and e["action"] != "intent"]


def local_audit_log() -> Path:
    """Where a state directory kept its audit trail before the trail moved into the registry."""
    return home() / "audit" / "promotions.jsonl"


def migrate_local_log(client: MlflowClient, log: Path) -> int:
    """Move a per-machine audit log's entries into the registry, once: the file is renamed after; entries of
    models this registry does not hold stay in the renamed file only. Returns how many moved."""
    if not log.is_file() or log.is_symlink():
        return 0
    moved = 0
    for line in log.read_text().splitlines():
        entry = json.loads(line)
        try:
            append_audit_entry(client, entry["model"], {**entry, "migrated_from": str(log)})
            moved += 1
        except MlflowException:  # a model deleted since, or one of another registry
            pass
    log.rename(log.with_name(log.name + ".migrated"))
    return moved
