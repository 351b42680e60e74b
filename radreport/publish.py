"""Register the selected checkpoint in the MLflow registry and run the promotion gate on it."""

import hashlib
import tempfile
from pathlib import Path

import mlflow
from mlflow import MlflowClient

from radreport import registry
from radreport.checkpoints import CheckpointSet
from radreport.config import PromotionConfig
from radreport.export import export_adapter
from radreport.gate import gate_version


def adapter_sha256(adapter_dir: Path) -> str:
    return hashlib.sha256((adapter_dir / "adapter_model.safetensors").read_bytes()).hexdigest()[:16]


def publish(checkpoints: CheckpointSet, step: int, metrics: dict, data_fingerprint: str, model_name: str,
            policy: PromotionConfig, extra_tags: dict, baselines: dict[str, dict] | None = None) -> dict:
    """Register (once per adapter) and gate one checkpoint. Needs an active MLflow run. `baselines`: each baseline's
    scores on the same evaluation ({system: {metric: value}}), kept with the version for the gate."""
    client = MlflowClient()
    run = mlflow.active_run()
    sha = adapter_sha256(checkpoints.adapter(step))
    existing = registry.find_by_tag(client, model_name, "adapter_sha256", sha)
    if existing and "gate.decision" in existing.tags:
        return {"model_name": model_name, "version": existing.version, "alias": existing.tags["gate.decision"],
                "reason": existing.tags["gate.reason"], "already_registered": True}
    if existing:  # registered by a run that died before its gate decision: decide now
        version = existing.version
    else:
        with tempfile.TemporaryDirectory() as tmp:
            mlflow.log_artifacts(str(export_adapter(checkpoints, step, Path(tmp) / "adapter")), "adapter")
        manifest = checkpoints.manifest
        tags = {"adapter_sha256": sha, "base_model": manifest["base_model"], "task": manifest["task"], "step": step,
                "takes_images": manifest.get("takes_images", False),
                "data_fingerprint": data_fingerprint,
                **{f"metric.{k}": round(float(v), 6) for k, v in metrics.items()},
                **{f"baseline.{system}.{k}": round(float(v), 6) for system, scores in (baselines or {}).items()
                   for k, v in scores.items()}, **extra_tags}
        version = registry.register(client, model_name, f"{run.info.artifact_uri}/adapter", run.info.run_id, tags)
    by = f"pipeline run {extra_tags.get('zenml.pipeline_run_id')}"
    entry = gate_version(client, model_name, version, policy, by=by)
    return {"model_name": model_name, "version": version, "alias": entry["result"], "reason": entry["reason"],
            "already_registered": existing is not None}
