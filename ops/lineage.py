"""Cross-links between the ZenML pipeline run and the MLflow run, called at the start of tracked steps."""

import subprocess

import mlflow

from ops.env import PROJECT_ROOT


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=5)
    except OSError:
        return "unknown"
    return out.stdout.strip() or "unknown"


def link_runs() -> None:
    """Tag the MLflow run with the ZenML run, and record the MLflow run on the ZenML step."""
    from zenml import get_step_context, log_metadata

    run = mlflow.active_run()
    if run is None or zenml_run_id() is None:
        return  # called outside a pipeline (a test calling step.entrypoint)
    context = get_step_context()
    pipeline_run = context.pipeline_run
    mlflow.set_tags({"zenml.pipeline_run_id": str(pipeline_run.id), "zenml.pipeline_run_name": pipeline_run.name,
                     "zenml.pipeline": context.pipeline.name, "git_commit": git_commit()})
    log_metadata({"mlflow_run_id": run.info.run_id, "mlflow_experiment_id": run.info.experiment_id,
                  "mlflow_tracking_uri": mlflow.get_tracking_uri()})


def zenml_run_id() -> str | None:
    from zenml import get_step_context

    try:
        return str(get_step_context().pipeline_run.id)
    except RuntimeError:
        return None


def record_metadata(metadata: dict, artifact_name: str | None = None) -> None:
    """ZenML metadata on the running step (or one of its outputs); a no-op outside a pipeline."""
    from zenml import log_metadata

    if zenml_run_id() is None:
        return
    if artifact_name:
        log_metadata(metadata, artifact_name=artifact_name, infer_artifact=True)
    else:
        log_metadata(metadata)


def record_model_metadata(metadata: dict) -> None:
    """ZenML metadata on the Model Control Plane version of the running pipeline; a no-op outside a pipeline."""
    from zenml import log_metadata

    if zenml_run_id() is not None:
        log_metadata(metadata, infer_model=True)


STAGE_OF_ALIAS = {"champion": "production", "challenger": "staging"}


def mirror_to_model_control_plane(model_name: str, zenml_version: str | None, alias: str) -> str | None:
    """Set the ZenML model version's stage to match the MLflow alias (champion -> production,
    challenger -> staging). Returns the stage, or None when the version has no ZenML twin."""
    from zenml.client import Client

    if not zenml_version or zenml_version == "none":
        return None
    stage = STAGE_OF_ALIAS[alias]
    Client().update_model_version(model_name_or_id=model_name, version_name_or_id=zenml_version, stage=stage,
                                  force=True)
    return stage
