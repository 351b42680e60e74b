from typing import Annotated

import mlflow
from zenml import step

from ops.lineage import (git_commit, link_runs, mirror_to_model_control_plane, record_metadata, record_model_metadata,
                         zenml_run_id)
from radreport import tracking
from radreport.training.checkpoints import CheckpointSet
from radreport.config import PromotionConfig
from radreport.evaluation.result import Evaluation
from radreport.registry.publish import publish
from radreport.registry.tags import lineage_tags, not_applicable_tags


@step(experiment_tracker=True, enable_cache=False)
def promote_model(checkpoints: CheckpointSet, evaluation: Evaluation, data_fingerprint: str,
                  promotion: PromotionConfig, model_name: str, run_config: dict) -> Annotated[dict, "promotion_decision"]:
    """Register the best checkpoint and set `champion` if the gate passes, else `challenger`; never cached,
    since the registry it reads changes between runs (the same adapter is registered only once)."""
    link_runs()
    started_here = mlflow.active_run() is None  # a direct call outside the pipeline still gets a run
    if started_here:
        mlflow.start_run(run_name="promote_model")
    try:
        tracking.log_params(flatten(run_config), prefix="config.")
        tracking.set_tags({"data_fingerprint": data_fingerprint})  # also when ingest was served from cache
        metrics, baselines = evaluation.best, evaluation.baselines
        model_version = zenml_model_version() or "none"
        lineage = lineage_tags(zenml_run_id() or "none", git_commit(), model_version)
        decision = publish(checkpoints, evaluation.best_step, metrics, data_fingerprint, model_name, promotion,
                           {**lineage, **not_applicable_tags(evaluation.not_applicable)}, baselines)
        if not started_here:
            decision["zenml_stage"] = mirror_to_model_control_plane(model_name, model_version, decision["alias"])
            record_metadata({f"promotion_{k}": v for k, v in decision.items() if v is not None})
            record_model_metadata({"mlflow_model": f"models:/{model_name}/{decision['version']}",
                                   "gate": decision["alias"], "metrics": {k: round(float(v), 6) for k, v in metrics.items()},
                                   "baselines": {s: {k: round(float(v), 6) for k, v in m.items()}
                                                 for s, m in baselines.items()}})
    finally:
        if started_here:
            mlflow.end_run()
    print(f"promote: {model_name} version {decision['version']} -> {decision['alias']} ({decision['reason']})")
    return decision


def zenml_model_version() -> str | None:
    """The ZenML Model Control Plane version this run works on, when the pipeline has a model."""
    from zenml import get_step_context
    from zenml.exceptions import StepContextError

    try:
        return str(get_step_context().model.version)
    except (RuntimeError, StepContextError):  # outside a pipeline, or a pipeline without a model
        return None


def flatten(config: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
