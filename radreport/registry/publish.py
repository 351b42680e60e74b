"""Register the selected checkpoint in the MLflow registry and run the promotion gate on it."""

import hashlib
import tempfile
from pathlib import Path

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.types.schema import Array

from radreport.modality import of_manifest
from radreport.registry import store as registry
from radreport.training.checkpoints import CheckpointSet
from radreport.config import PromotionConfig
from radreport.training.export import export_adapter
from radreport.registry.gate import gate_version
from radreport.registry.model_card import model_card
from radreport.registry.requirements import PACKAGE_DIR, model_requirements
from radreport.registry.tags import ADAPTER_SHA256, ZENML_RUN, decision_of, preference_tags, score_tags, version_tags

EXAMPLE_FINDINGS = "The heart is normal in size. The lungs are clear. No pleural effusion or pneumothorax."


def adapter_sha256(adapter_dir: Path) -> str:
    return hashlib.sha256((adapter_dir / "adapter_model.safetensors").read_bytes()).hexdigest()[:16]


def log_pyfunc(checkpoints: CheckpointSet, step: int, model_name: str, tags: dict):
    """Log the checkpoint to the active run as an MLflow pyfunc model (radreport/registry/mlflow_pyfunc.py, models from code)
    with its signature, an input example, the model card as README.md, the `radreport` package as its code and its
    requirements pinned (requirements.py); returns the LoggedModel."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

    takes_images = of_manifest(checkpoints.manifest).takes_images
    inputs = Schema([ColSpec("string", "findings")]) if not takes_images else \
        Schema([ColSpec(Array("string"), "images")])
    signature = ModelSignature(inputs=inputs, outputs=Schema([ColSpec("string")]),
                               params=ParamSchema([ParamSpec("max_new_tokens", "long", 96),
                                                   ParamSpec("batch_size", "long", 8)]))
    run = MlflowClient().get_run(mlflow.active_run().info.run_id)  # the active run's data as logged so far
    card = model_card(model_name, "(new)", tags, run.data.params, run.data.metrics, run.data.tags)
    with tempfile.TemporaryDirectory() as tmp:
        adapter = export_adapter(checkpoints, step, Path(tmp) / "adapter")
        (Path(tmp) / "README.md").write_text(card)
        info = mlflow.pyfunc.log_model(
            name="model", python_model=str(Path(__file__).with_name("mlflow_pyfunc.py")),
            artifacts={"adapter": str(adapter), "model_card": str(Path(tmp) / "README.md")}, signature=signature,
            input_example=None if takes_images else pd.DataFrame({"findings": [EXAMPLE_FINDINGS]}),
            code_paths=[str(PACKAGE_DIR)], pip_requirements=model_requirements(checkpoints.manifest))
    return mlflow.get_logged_model(info.model_id)


def publish(checkpoints: CheckpointSet, step: int, metrics: dict, data_fingerprint: str, model_name: str,
            policy: PromotionConfig, extra_tags: dict, baselines: dict[str, dict] | None = None) -> dict:
    """Register (once per adapter) and gate one checkpoint. Needs an active MLflow run. `baselines`: each baseline's
    scores on the same evaluation ({system: {metric: value}}), kept with the version for the gate."""
    client = MlflowClient()
    run = mlflow.active_run()
    sha = adapter_sha256(checkpoints.adapter(step))
    existing = registry.find_by_tag(client, model_name, ADAPTER_SHA256, sha)
    if existing and (decided := decision_of(existing.tags)).get("decision"):
        return {"model_name": model_name, "version": existing.version, "alias": decided["decision"],
                "reason": decided["reason"], "already_registered": True}
    if existing:  # registered by a run that died before its gate decision: decide now
        version = existing.version
    else:
        manifest = checkpoints.manifest
        tags = {**version_tags(sha, manifest, step, of_manifest(manifest).takes_images, data_fingerprint),
                **score_tags(metrics, baselines or {}), **preference_tags(manifest), **extra_tags}
        logged = log_pyfunc(checkpoints, step, model_name, tags)
        version = registry.register(client, model_name, logged.artifact_location, run.info.run_id, tags,
                                    model_id=logged.model_id)
    by = f"pipeline run {extra_tags.get(ZENML_RUN)}"
    entry = gate_version(client, model_name, version, policy, by=by)
    return {"model_name": model_name, "version": version, "alias": entry["result"], "reason": entry["reason"],
            "already_registered": existing is not None}
