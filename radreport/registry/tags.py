"""The tags a registered version carries, written and read here only: its scores (`metric.X`), each baseline's on
the same evaluation (`baseline.SYSTEM.X`), its radiologists' ratings (`human_eval.X`) and its gate decision
(`gate.X`), the metrics that do not apply to its reports (`metrics_not_applicable`), and for a preference-tuned
version what it started from and learned from (`preference.X`). Registry tags are strings; values round-trip through float here."""

HUMAN_EVAL_STATS = ("model_preference_rate", "mean_model_rating", "mean_radiologist_rating",
                    "krippendorff_alpha_interval", "ratings", "raters")


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
    return {"metrics_not_applicable": ",".join(metrics)} if metrics else {}


def not_applicable_of(tags: dict) -> set[str]:
    return set(filter(None, tags.get("metrics_not_applicable", "").split(",")))


def human_eval_tags(stats: dict) -> dict[str, str]:
    return {f"human_eval.{metric}": f"{stats[metric]:.4g}" for metric in HUMAN_EVAL_STATS}


def human_eval_of(tags: dict) -> dict[str, str]:
    return {k.removeprefix("human_eval."): v for k, v in tags.items() if k.startswith("human_eval.")}


def human_rating_of(tags: dict) -> float | None:
    """The mean rating radiologists gave the model's texts, when ratings were imported."""
    rating = human_eval_of(tags).get("mean_model_rating")
    return float(rating) if rating is not None else None


def decision_tags(alias: str, reason: str, action: str, by: str, time: str, champion_version) -> dict[str, str]:
    return {key: str(value)[:5000] for key, value in {
        "gate.decision": alias, "gate.reason": reason, "gate.action": action, "gate.by": by, "gate.time": time,
        "gate.champion_version": champion_version or "none"}.items()}


def decision_of(tags: dict) -> dict[str, str]:
    """The version's last gate decision: decision, reason, action, by, time, champion_version (those on record)."""
    return {k.removeprefix("gate."): v for k, v in tags.items() if k.startswith("gate.") and k != "gate.pending"}


PREFERENCE_LINEAGE = ("started_from_version", "method", "source", "pairs", "kto_examples", "pairs_sha256",
                      "ratings_sha256")


def preference_tags(manifest: dict) -> dict[str, str]:
    """A preference-tuned checkpoint's lineage (its manifest's `preference`), as tags; {} for SFT checkpoints."""
    lineage = manifest.get("preference") or {}
    return {f"preference.{key}": str(lineage[key]) for key in PREFERENCE_LINEAGE if key in lineage}
