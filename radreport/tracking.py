"""MLflow logging that is a no-op outside a tracked run (e.g. a step called directly in a test)."""

from pathlib import Path

import mlflow


def active() -> bool:
    return mlflow.active_run() is not None


def log_metrics(metrics: dict, step: int | None = None, prefix: str = "") -> None:
    if active():
        numeric = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
        mlflow.log_metrics({f"{prefix}{k}": float(v) for k, v in numeric.items()}, step=step)


def log_params(params: dict, prefix: str = "") -> None:
    if active():
        mlflow.log_params({f"{prefix}{k}": str(v)[:500] for k, v in params.items()})


def set_tags(tags: dict) -> None:
    if active():
        mlflow.set_tags({k: str(v) for k, v in tags.items()})


def log_artifact(path, artifact_path: str | None = None) -> None:
    if active():
        if Path(path).is_dir():
            mlflow.log_artifacts(str(path), artifact_path)
        else:
            mlflow.log_artifact(str(path), artifact_path)
