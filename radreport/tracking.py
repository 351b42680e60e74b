"""MLflow logging that is a no-op outside a tracked run (e.g. a step called directly in a test).

MLflow is never imported here: a run can only be active once something else imported it, so the core also runs
where MLflow is not installed (a bare GPU machine running a benchmark).
"""

import sys
from pathlib import Path


def tracked_mlflow():
    """The mlflow module while a run is active, else None."""
    mlflow = sys.modules.get("mlflow")
    return mlflow if mlflow is not None and mlflow.active_run() is not None else None


def active() -> bool:
    return tracked_mlflow() is not None


def log_metrics(metrics: dict, step: int | None = None, prefix: str = "") -> None:
    if mlflow := tracked_mlflow():
        numeric = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
        mlflow.log_metrics({f"{prefix}{k}": float(v) for k, v in numeric.items()}, step=step)


def log_params(params: dict, prefix: str = "") -> None:
    if mlflow := tracked_mlflow():
        mlflow.log_params({f"{prefix}{k}": str(v)[:500] for k, v in params.items()})


def set_tags(tags: dict) -> None:
    if mlflow := tracked_mlflow():
        mlflow.set_tags({k: str(v) for k, v in tags.items()})


def log_artifact(path, artifact_path: str | None = None) -> None:
    if mlflow := tracked_mlflow():
        if Path(path).is_dir():
            mlflow.log_artifacts(str(path), artifact_path)
        else:
            mlflow.log_artifact(str(path), artifact_path)
