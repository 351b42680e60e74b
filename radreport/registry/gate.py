"""Promotion decisions applied to the MLflow registry: one at a time (a file lock), every one on record
(version tags, the registered model's champion history, an append-only audit log, and the version's MLflow run).

A decision survives a crash half-way: before the champion alias moves, an intent is written (a registered-model tag
and an audit entry); after it moves, the alias is read back. The next decision or rollback finds an intent left by
a process that died, settles it from what the registry really shows, and brings the history in line with the real
alias. The file lock serialises processes sharing one state directory only: on a registry shared between machines,
a compare-and-set (the champion is read again just before the alias moves, and the decision is dropped if it
changed) catches a concurrent decision, and the README says how to keep decisions in one place.
"""

import fcntl
import getpass
import json
import logging
import socket
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from radreport.config import PromotionConfig
from radreport.errors import RadreportError
from radreport.paths import home, open_state
from radreport.registry.policy import Decision, decide
from radreport.registry.store import champion_version
from radreport.registry.tags import baselines_of, decision_tags, human_rating_of, metrics_of, not_applicable_of

log = logging.getLogger(__name__)
HISTORY_TAG = "champion_history"
PENDING_TAG = "gate.pending"


class ChampionChanged(RadreportError):
    """The champion moved while a decision was being made (another process on a shared registry)."""


def audit_log() -> Path:
    return home() / "audit" / "promotions.jsonl"


def actor() -> str:
    return f"{getpass.getuser()}@{socket.gethostname()}"


@contextmanager
def registry_lock():
    """Serialises decisions of all processes sharing this state directory."""
    path = home() / "registry.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open_state(path) as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def champion_history(client: MlflowClient, name: str) -> list[int]:
    value = client.get_registered_model(name).tags.get(HISTORY_TAG, "")
    return [int(v) for v in value.split(",") if v]


def real_champion(client: MlflowClient, name: str) -> Optional[int]:
    champion = client.get_registered_model(name).aliases.get("champion")
    return int(champion) if champion is not None else None


def reconciled_history(client: MlflowClient, name: str) -> list[int]:
    """The champion history, ending with the real champion alias (appended and saved when a crash or a change
    made outside radreport left the history behind)."""
    history, real = champion_history(client, name), real_champion(client, name)
    if real is not None and (not history or history[-1] != real):
        history.append(real)
        client.set_registered_model_tag(name, HISTORY_TAG, ",".join(map(str, history)))
    return history


def settle_pending(client: MlflowClient, name: str) -> Optional[dict]:
    """Settle a decision whose process died between its intent and its record: the audit log gets what really
    happened (the alias moved or not), and the intent is cleared. None when nothing was pending."""
    model = client.get_registered_model(name)
    pending = model.tags.get(PENDING_TAG)
    if not pending:
        return None
    intent = json.loads(pending)
    applied = int(model.aliases.get(intent["alias"], -1)) == intent["version"]
    entry = {"time": now(), "model": name, "version": intent["version"], "action": "settle",
             "result": intent["alias"] if applied else "not applied",
             "reason": (f"a decision by {intent['by']} at {intent['time']} died after moving {intent['alias']} to "
                        f"v{intent['version']}" if applied else
                        f"a decision by {intent['by']} at {intent['time']} died before moving {intent['alias']}; "
                        "the registry is as it was"), "intent": intent, "by": actor()}
    append_audit(entry)
    if applied:
        client.set_model_version_tag(name, str(intent["version"]), "gate.decision", intent["alias"])
    history = champion_history(client, name)
    if applied and intent.get("action") == "rollback" and len(history) >= 2 and history[-2] == intent["version"]:
        # the rollback moved the alias back but died before shortening the history: finish that, not append
        client.set_registered_model_tag(name, HISTORY_TAG, ",".join(map(str, history[:-1])))
        client.set_registered_model_alias(name, "challenger", str(intent["previous_champion"]))
    reconciled_history(client, name)
    client.delete_registered_model_tag(name, PENDING_TAG)
    return entry


def set_alias(client: MlflowClient, name: str, alias: str, version: int, expected_champion: Optional[int],
              by: str) -> None:
    """Move `alias` to `version` if the champion is still `expected_champion` (compare-and-set), with an intent on
    record first and the alias read back after."""
    champion = real_champion(client, name)
    if champion != expected_champion:
        raise ChampionChanged(f"{name}: the champion changed from v{expected_champion} to v{champion} while "
                              f"v{version} was being gated (another decision on this registry); nothing was "
                              "changed: run the gate again")
    history = reconciled_history(client, name)
    intent = {"action": "gate", "version": version, "alias": alias, "previous_champion": champion, "by": by,
              "time": now()}
    client.set_registered_model_tag(name, PENDING_TAG, json.dumps(intent))
    append_audit({"time": intent["time"], "model": name, "version": version, "action": "intent", "result": alias,
                  "reason": f"about to move {alias} to v{version} (champion v{champion})", "intent": intent,
                  "by": by})
    model = client.get_registered_model(name)
    if alias == "champion" and int(model.aliases.get("challenger", -1)) == version:
        client.delete_registered_model_alias(name, "challenger")
    client.set_registered_model_alias(name, alias, str(version))
    if int(client.get_registered_model(name).aliases.get(alias, -1)) != version:
        raise ChampionChanged(f"{name}: {alias} did not read back as v{version} after it was set (another "
                              "decision on this registry); run the gate again")
    if alias == "champion":
        client.set_registered_model_tag(name, HISTORY_TAG, ",".join(map(str, history + [version])))


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def append_audit(entry: dict) -> None:
    audit_log().parent.mkdir(parents=True, exist_ok=True)
    with open_state(audit_log(), "a") as log:
        log.write(json.dumps(entry) + "\n")


def record(client: MlflowClient, name: str, version: int, action: str, decision: Decision, by: str,
           candidate: dict, champion: Optional[dict], champion_number: Optional[int]) -> dict:
    entry = {"time": now(), "model": name, "version": version,
             "action": action, "result": decision.alias, "reason": decision.reason, "checks": decision.checks,
             "candidate": candidate, "champion_version": champion_number, "champion": champion, "by": by}
    for key, value in decision_tags(decision.alias, decision.reason, action, by, entry["time"], champion_number).items():
        client.set_model_version_tag(name, str(version), key, value)
    append_audit(entry)
    run_id = client.get_model_version(name, str(version)).run_id
    if run_id:
        client.log_text(run_id, json.dumps(entry, indent=2), f"audit/{entry['time'].replace(':', '')}-{action}-v{version}.json")
    client.delete_registered_model_tag(name, PENDING_TAG)
    refresh_card_quietly(client, name, version)
    return entry


def refresh_card_quietly(client: MlflowClient, name: str, version: int) -> None:
    """The version's model card rebuilt with the decision; a card that cannot be built never undoes a decision."""
    from radreport.registry.model_card import refresh_card

    try:
        refresh_card(client, name, version)
    except Exception as error:  # noqa: BLE001
        log.warning("model card of %s v%s not refreshed: %s", name, version, error)


def gate_version(client: MlflowClient, name: str, version: int, policy: PromotionConfig, by: str,
                 force_reason: Optional[str] = None) -> dict:
    """Run the gate for one version (or force it with a recorded reason) and apply the alias."""
    with registry_lock():
        settle_pending(client, name)
        tags = dict(client.get_model_version(name, str(version)).tags)
        candidate = metrics_of(tags)
        current = champion_version(client, name)
        champion = metrics_of(current.tags) if current and current.version != version else None
        rating = human_rating_of(tags)
        if force_reason is not None:
            if not force_reason.strip():
                raise RadreportError("a forced promotion needs a reason: an override is only accepted with its reason on record")
            decision, action = Decision(True, f"forced: {force_reason}", ["override of the gate"]), "force"
        else:
            p_value = paired_p_value(client, name, version, current.version, policy.metric) \
                if champion is not None and policy.significance is not None else None
            decision = decide(candidate, champion, policy, rating, p_value, baselines_of(tags), not_applicable_of(tags))
            action = "gate"
        if not (current and current.version == version):  # re-gating the champion records, never demotes
            set_alias(client, name, decision.alias, version, current.version if current else None, by)
        return record(client, name, version, action, decision, by, candidate, champion,
                      current.version if current else None)


def per_example_scores(client: MlflowClient, name: str, version: int, metric: str):
    """The version's per-example `metric` on its evaluation examples, indexed by report id."""
    from radreport.evaluation.examples import example_scores, read_examples

    info = client.get_model_version(name, str(version))
    examples = read_examples(info.run_id, client._tracking_client.tracking_uri)
    return example_scores(examples, int(info.tags["step"]), metric)


def paired_p_value(client: MlflowClient, name: str, candidate: int, champion: int, metric: str) -> Optional[float]:
    """Approximate-randomisation p-value of candidate vs champion, or None when they were not scored on the
    same examples (or a per-example score is missing)."""
    from radreport.metrics import paired_randomization

    try:
        ours, theirs = (per_example_scores(client, name, v, metric) for v in (candidate, champion))
    except (MlflowException, OSError, KeyError):  # no artifact, or no per-example score for this metric
        return None
    if set(ours.index) != set(theirs.index):
        return None
    return paired_randomization(ours.sort_index(), theirs.sort_index())["p_value"]


def rollback(client: MlflowClient, name: str, by: str, reason: str) -> dict:
    """Move `champion` back to the previous champion, on record. The history is first settled and reconciled with
    the real alias, so the version rolled back from is the one really serving."""
    with registry_lock():
        settle_pending(client, name)
        history = reconciled_history(client, name)
        if len(history) < 2:
            raise RadreportError(f"{name}: no previous champion to roll back to (history: {history or 'empty'})")
        current, previous = history[-1], history[-2]
        intent = {"action": "rollback", "version": previous, "alias": "champion", "previous_champion": current,
                  "by": by, "time": now()}
        client.set_registered_model_tag(name, PENDING_TAG, json.dumps(intent))
        client.set_registered_model_alias(name, "champion", str(previous))
        client.set_registered_model_tag(name, HISTORY_TAG, ",".join(map(str, history[:-1])))
        client.set_registered_model_alias(name, "challenger", str(current))
        client.set_model_version_tag(name, str(current), "gate.decision", "challenger")
        client.set_model_version_tag(name, str(current), "gate.reason", f"rolled back to v{previous}: {reason}")
        decision = Decision(True, f"rollback from v{current}: {reason}", [f"v{current} -> v{previous}"])
        entry = record(client, name, previous, "rollback", decision, by,
                       metrics_of(client.get_model_version(name, str(previous)).tags), None, current)
        refresh_card_quietly(client, name, current)  # its card now says it was rolled back
        return entry


def decisions_of(name: str, version: int) -> list[dict]:
    """Every decision on record for one version, oldest first (an intent is followed by its decision or a settle
    entry, so intents are left out)."""
    if not audit_log().exists():
        return []
    entries = [json.loads(line) for line in audit_log().read_text().splitlines()]
    return [e for e in entries if e["model"] == name and e["version"] == version and e["action"] != "intent"]
