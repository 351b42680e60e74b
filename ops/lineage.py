"""Cross-links between the ZenML pipeline run and the MLflow run, called at the start of tracked steps."""

import subprocess

import mlflow

from ops.env import PROJECT_ROOT
from ops.stack import redacted


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
                  "mlflow_tracking_uri": redacted(mlflow.get_tracking_uri())})


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


def mirror_stage(client, name: str, version: int, alias: str) -> str | None:
    """The registry decision `alias` for `version`, mirrored to its ZenML model version's stage."""
    from ops.stack import bootstrap
    from radreport.registry.tags import ZENML_MODEL_VERSION

    bootstrap()
    tags = client.get_model_version(name, str(version)).tags
    return mirror_to_model_control_plane(name, tags.get(ZENML_MODEL_VERSION), alias)


def version_lineage(client, name: str, version: int) -> dict:
    """The chain from a registered version back to its data: MLflow run, data, structuring, training, evaluation,
    human evaluation, the ZenML run and its steps, and every decision on record."""
    from radreport.registry.audit import decisions_of
    from radreport.registry.store import aliases_of
    from radreport.registry.tags import (BASE_MODEL, DATA_FINGERPRINT, GIT_COMMIT, STEP, TASK, ZENML_MODEL_VERSION,
                                         ZENML_RUN, human_eval_of, metrics_of)

    info = client.get_model_version(name, str(version))
    tags, run = dict(info.tags), client.get_run(info.run_id)
    lineage = {
        "model": name, "version": version, "source": info.source, "aliases": aliases_of(client, name, version),
        "mlflow_run": run.info.run_id, "experiment": run.info.experiment_id, "git_commit": tags.get(GIT_COMMIT, "?"),
        "data_path": run.data.tags.get("data_path", "?"), "data_fingerprint": tags.get(DATA_FINGERPRINT),
        "ingest": {k.removeprefix("ingest_"): int(v) for k, v in sorted(run.data.metrics.items())
                   if k.removeprefix("ingest_") in ("read", "accepted", "quarantined") and k.startswith("ingest_")},
        "structuring": {"backend": run.data.tags.get("structuring_backend", "?"),
                        "prompt_version": run.data.tags.get("structuring_prompt_version", "-")},
        "training": {"base_model": tags.get(BASE_MODEL), "task": tags.get(TASK), "step": tags.get(STEP),
                     "backend": run.data.tags.get("train_backend", "?"),
                     **{k.removeprefix("config.train."): v for k, v in sorted(run.data.params.items())
                        if k in {f"config.train.{p}" for p in ("lora_r", "learning_rate", "max_steps", "batch_size")}}},
        "evaluation": metrics_of(tags), "human_eval": human_eval_of(tags),
        "zenml_run": None, "decisions": decisions_of(client, name, version),
    }
    zenml_run = tags.get(ZENML_RUN)
    if zenml_run and zenml_run != "none":
        from zenml.client import Client

        from ops.stack import bootstrap

        bootstrap()
        pipeline_run = Client().get_pipeline_run(zenml_run)
        lineage["zenml_run"] = {"name": pipeline_run.name, "id": zenml_run,
                                "model_version": tags.get(ZENML_MODEL_VERSION, "-"),
                                "steps": {n: s.status.value for n, s in pipeline_run.steps.items()}}
    return lineage
