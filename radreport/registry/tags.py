"""Every tag radreport puts in the MLflow registry, named, written and read here only: other modules pass values in
and get values out, and the registry's tag calls are made here.

A registered version carries what it is (`adapter_sha256`, `base_model`, `task`, `step`, `takes_images`,
`data_fingerprint`) and where it came from (`git_commit`, `zenml.pipeline_run_id`, `zenml.model_version`), its scores
(`metric.X`), each baseline's on the same evaluation (`baseline.SYSTEM.X`), the metrics that do not apply to its
reports (`metrics_not_applicable`), its radiologists' ratings (`human_eval.X`, also metrics of its MLflow run), its
gate decision (`gate.X`), and for a preference-tuned version what it started from and learned from (`preference.X`).
A registered model carries its champion history (`champion_history`), the intent of a decision being applied
(`gate.pending`) and the audit trail (`audit.<nanoseconds>-<random>`, one tag per entry, written once); a decision
lock (lock.py) its holder (`radreport.lock`). Registry tags are strings; values round-trip through float here."""

import json
import secrets
import time

ADAPTER_SHA256, BASE_MODEL, TASK, STEP = "adapter_sha256", "base_model", "task", "step"
TAKES_IMAGES, DATA_FINGERPRINT, NOT_APPLICABLE = "takes_images", "data_fingerprint", "metrics_not_applicable"
GIT_COMMIT, ZENML_RUN, ZENML_MODEL_VERSION = "git_commit", "zenml.pipeline_run_id", "zenml.model_version"
HISTORY, PENDING, AUDIT_PREFIX, LOCK_HOLDER = "champion_history", "gate.pending", "audit.", "radreport.lock"
HUMAN_EVAL_STATS = ("model_preference_rate", "mean_model_rating", "mean_radiologist_rating",
                    "krippendorff_alpha_interval", "ratings", "raters")
PREFERENCE_LINEAGE = ("started_from_version", "method", "source", "pairs", "kto_examples", "pairs_sha256",
                      "ratings_sha256")


def version_tags(adapter_sha256: str, manifest: dict, step: int, takes_images: bool, data_fingerprint: str) -> dict:
    """What a version is, as tags at its registration."""
    return {ADAPTER_SHA256: adapter_sha256, BASE_MODEL: manifest["base_model"], TASK: manifest["task"], STEP: step,
            TAKES_IMAGES: takes_images, DATA_FINGERPRINT: data_fingerprint}


def lineage_tags(pipeline_run_id: str, git_commit: str, zenml_model_version: str) -> dict[str, str]:
    """Where a version came from: its ZenML run and model version, and the code's commit."""
    return {ZENML_RUN: pipeline_run_id, GIT_COMMIT: git_commit, ZENML_MODEL_VERSION: zenml_model_version}


def step_of(tags: dict) -> int:
    """The checkpoint step a version was registered from (KeyError when none is on record)."""
    return int(tags[STEP])


def takes_images_of(tags: dict) -> bool:
    return tags.get(TAKES_IMAGES) == "True"


def score_tags(metrics: dict, baselines: dict[str, dict]) -> dict[str, float]:
    return {**{f"metric.{k}": round(float(v), 6) for k, v in metrics.items()},
            **{f"baseline.{system}.{k}": round(float(v), 6) for system, scores in baselines.items()
               for k, v in scores.items()}}


def metrics_of(tags: dict) -> dict[str, float]:
    return {k.removeprefix("metric."): float(v) for k, v in tags.items() if k.startswith("metric.")}


def baselines_of(tags: dict) -> dict[str, dict]:
    """{system: {metric: value}} from the version's `baseline.<system>.<metric>` tags."""
    baselines: dict[str, dict] = {}
    for key, value in tags.items():
        if key.startswith("baseline."):
            system, metric = key.removeprefix("baseline.").split(".", 1)
            baselines.setdefault(system, {})[metric] = float(value)
    return baselines


def not_applicable_tags(metrics: list[str]) -> dict[str, str]:
    """Metrics the version's evaluation declared not applicable to its reports (clinical F1 on CT reports)."""
    return {NOT_APPLICABLE: ",".join(metrics)} if metrics else {}


def not_applicable_of(tags: dict) -> set[str]:
    return set(filter(None, tags.get(NOT_APPLICABLE, "").split(",")))


def set_human_eval(client, name: str, version: int, run_id: str, stats: dict) -> None:
    """The ratings' statistics as the version's `human_eval.X` tags and its run's `human_eval_X` metrics."""
    for metric in HUMAN_EVAL_STATS:
        client.log_metric(run_id, f"human_eval_{metric}", stats[metric])
    for metric in HUMAN_EVAL_STATS:
        client.set_model_version_tag(name, str(version), f"human_eval.{metric}", f"{stats[metric]:.4g}")


def human_eval_of(tags: dict) -> dict[str, str]:
    return {k.removeprefix("human_eval."): v for k, v in tags.items() if k.startswith("human_eval.")}


def human_rating_of(tags: dict) -> float | None:
    """The mean rating radiologists gave the model's texts, when ratings were imported."""
    rating = human_eval_of(tags).get("mean_model_rating")
    return float(rating) if rating is not None else None


def set_decision(client, name: str, version: int, alias: str, reason: str, action: str, by: str, time: str,
                 champion_version) -> None:
    """The version's gate decision, every field of it (values cut to the registry's 5,000 characters)."""
    for key, value in {"decision": alias, "reason": reason, "action": action, "by": by, "time": time,
                       "champion_version": champion_version or "none"}.items():
        client.set_model_version_tag(name, str(version), f"gate.{key}", str(value)[:5000])


def set_decision_alias(client, name: str, version: int, alias: str) -> None:
    """Only the alias a settled decision gave the version; its other fields stay as they were."""
    client.set_model_version_tag(name, str(version), "gate.decision", alias)


def set_rolled_back(client, name: str, version: int, reason: str) -> None:
    """A champion rolled back from: challenger now, and why."""
    client.set_model_version_tag(name, str(version), "gate.decision", "challenger")
    client.set_model_version_tag(name, str(version), "gate.reason", reason)


def decision_of(tags: dict) -> dict[str, str]:
    """The version's last gate decision: decision, reason, action, by, time, champion_version (those on record)."""
    return {k.removeprefix("gate."): v for k, v in tags.items() if k.startswith("gate.") and k != PENDING}


def preference_tags(manifest: dict) -> dict[str, str]:
    """A preference-tuned checkpoint's lineage (its manifest's `preference`), as tags; {} for SFT checkpoints."""
    lineage = manifest.get("preference") or {}
    return {f"preference.{key}": str(lineage[key]) for key in PREFERENCE_LINEAGE if key in lineage}


def set_history(client, name: str, history: list[int]) -> None:
    client.set_registered_model_tag(name, HISTORY, ",".join(map(str, history)))


def history_of(tags: dict) -> list[int]:
    """The versions that held `champion`, oldest first."""
    return [int(v) for v in tags.get(HISTORY, "").split(",") if v]


def set_pending(client, name: str, intent: dict) -> None:
    client.set_registered_model_tag(name, PENDING, json.dumps(intent))


def pending_of(tags: dict) -> dict | None:
    """The intent of a decision being applied, or left by one that died; None when nothing is pending."""
    pending = tags.get(PENDING)
    return json.loads(pending) if pending else None


def clear_pending(client, name: str) -> None:
    client.delete_registered_model_tag(name, PENDING)


def append_audit_entry(client, name: str, entry: dict) -> None:
    """One more entry in the model's audit trail, under a key of its own (so two writers at once both stay)."""
    key = f"{AUDIT_PREFIX}{time.time_ns():020d}-{secrets.token_hex(4)}"
    client.set_registered_model_tag(name, key, json.dumps(entry, separators=(",", ":")))


def audit_entries_of(tags: dict) -> list[dict]:
    """The model's audit trail, oldest first."""
    return [json.loads(tags[key]) for key in sorted(k for k in tags if k.startswith(AUDIT_PREFIX))]


def lock_holder_tags(by: str) -> dict[str, str]:
    """A decision lock's tags as it is created: who holds it, since when."""
    return {LOCK_HOLDER: json.dumps({"by": by, "since": time.time()})}


def lock_holder_of(tags: dict) -> dict:
    return json.loads(tags.get(LOCK_HOLDER, "{}"))
