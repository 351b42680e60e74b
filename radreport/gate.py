"""Promotion decisions applied to the MLflow registry: one at a time (a file lock), every one on record
(version tags, the registered model's champion history, an append-only audit log, and the version's MLflow run)."""

import fcntl
import getpass
import json
import socket
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from radreport.config import PromotionConfig
from radreport.metrics import example_column
from radreport.paths import home
from radreport.promotion import Decision, decide
from radreport.registry import champion_version

HISTORY_TAG = "champion_history"


def audit_log() -> Path:
    return home() / "audit" / "promotions.jsonl"


def actor() -> str:
    return f"{getpass.getuser()}@{socket.gethostname()}"


@contextmanager
def registry_lock():
    """Serialises decisions of all processes sharing this state directory."""
    path = home() / "registry.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def metrics_of(tags: dict) -> dict:
    return {k.removeprefix("metric."): float(v) for k, v in tags.items() if k.startswith("metric.")}


def baselines_of(tags: dict) -> dict[str, dict]:
    """{system: {metric: value}} from the version's `baseline.<system>.<metric>` tags."""
    baselines: dict[str, dict] = {}
    for key, value in tags.items():
        if key.startswith("baseline."):
            system, metric = key.removeprefix("baseline.").split(".", 1)
            baselines.setdefault(system, {})[metric] = float(value)
    return baselines


def champion_history(client: MlflowClient, name: str) -> list[int]:
    value = client.get_registered_model(name).tags.get(HISTORY_TAG, "")
    return [int(v) for v in value.split(",") if v]


def set_alias(client: MlflowClient, name: str, alias: str, version: int) -> None:
    model = client.get_registered_model(name)
    previous = model.aliases.get("champion")
    if alias == "champion" and int(model.aliases.get("challenger", -1)) == version:
        client.delete_registered_model_alias(name, "challenger")
    client.set_registered_model_alias(name, alias, str(version))
    if alias == "champion":
        history = champion_history(client, name)
        if previous is not None and (not history or history[-1] != int(previous)):
            history.append(int(previous))  # a champion set before the history was kept
        client.set_registered_model_tag(name, HISTORY_TAG, ",".join(map(str, history + [version])))


def record(client: MlflowClient, name: str, version: int, action: str, decision: Decision, by: str,
           candidate: dict, champion: Optional[dict], champion_number: Optional[int]) -> dict:
    entry = {"time": datetime.now(timezone.utc).isoformat(timespec="seconds"), "model": name, "version": version,
             "action": action, "result": decision.alias, "reason": decision.reason, "checks": decision.checks,
             "candidate": candidate, "champion_version": champion_number, "champion": champion, "by": by}
    for key, value in {"gate.decision": decision.alias, "gate.reason": decision.reason, "gate.action": action,
                       "gate.by": by, "gate.time": entry["time"],
                       "gate.champion_version": champion_number or "none"}.items():
        client.set_model_version_tag(name, str(version), key, str(value)[:5000])
    audit_log().parent.mkdir(parents=True, exist_ok=True)
    with open(audit_log(), "a") as log:
        log.write(json.dumps(entry) + "\n")
    run_id = client.get_model_version(name, str(version)).run_id
    if run_id:
        client.log_text(run_id, json.dumps(entry, indent=2), f"audit/{entry['time'].replace(':', '')}-{action}-v{version}.json")
    return entry


def gate_version(client: MlflowClient, name: str, version: int, policy: PromotionConfig, by: str,
                 force_reason: Optional[str] = None) -> dict:
    """Run the gate for one version (or force it with a recorded reason) and apply the alias."""
    with registry_lock():
        tags = dict(client.get_model_version(name, str(version)).tags)
        candidate = metrics_of(tags)
        current = champion_version(client, name)
        champion = metrics_of(current.tags) if current and current.version != version else None
        rating = float(tags["human_eval.mean_model_rating"]) if "human_eval.mean_model_rating" in tags else None
        if force_reason is not None:
            if not force_reason.strip():
                raise SystemExit("--force needs --reason: an override is only accepted with its reason on record")
            decision, action = Decision(True, f"forced: {force_reason}", ["override of the gate"]), "force"
        else:
            p_value = paired_p_value(client, name, version, current.version, policy.metric) \
                if champion is not None and policy.significance is not None else None
            decision, action = decide(candidate, champion, policy, rating, p_value, baselines_of(tags)), "gate"
        if not (current and current.version == version):  # re-gating the champion records, never demotes
            set_alias(client, name, decision.alias, version)
        return record(client, name, version, action, decision, by, candidate, champion,
                      current.version if current else None)


def per_example_scores(client: MlflowClient, name: str, version: int, metric: str):
    """The version's per-example `metric` on its evaluation examples, indexed by report id."""
    import tempfile

    import mlflow
    import pandas as pd

    info = client.get_model_version(name, str(version))
    with tempfile.TemporaryDirectory() as tmp:
        path = mlflow.artifacts.download_artifacts(run_id=info.run_id, artifact_path="evaluation/eval_examples.csv",
                                                   dst_path=tmp, tracking_uri=client._tracking_client.tracking_uri)
        examples = pd.read_csv(path, dtype={"report_id": str})
    return examples.set_index("report_id")[f"step-{info.tags['step']}.{example_column(metric)}"]


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
    """Move `champion` back to the previous champion, on record."""
    with registry_lock():
        history = champion_history(client, name)
        if len(history) < 2:
            raise SystemExit(f"{name}: no previous champion to roll back to (history: {history or 'empty'})")
        current, previous = history[-1], history[-2]
        client.set_registered_model_alias(name, "champion", str(previous))
        client.set_registered_model_tag(name, HISTORY_TAG, ",".join(map(str, history[:-1])))
        client.set_registered_model_alias(name, "challenger", str(current))
        client.set_model_version_tag(name, str(current), "gate.decision", "challenger")
        client.set_model_version_tag(name, str(current), "gate.reason", f"rolled back to v{previous}: {reason}")
        decision = Decision(True, f"rollback from v{current}: {reason}", [f"v{current} -> v{previous}"])
        return record(client, name, previous, "rollback", decision, by,
                      metrics_of(client.get_model_version(name, str(previous)).tags), None, current)
