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
    try:
        context = get_step_context()
    except RuntimeError:
        return  # called outside a pipeline (a test calling step.entrypoint)
    if run is None:
        return
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
