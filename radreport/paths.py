"""Where radreport keeps its state: one directory, moved with RADREPORT_HOME."""

import os
from pathlib import Path

DEFAULT_HOME = ".radreport"


def home() -> Path:
    """The state directory (ZenML store, artifacts, MLflow store, model cache)."""
    return Path(os.environ.get("RADREPORT_HOME", DEFAULT_HOME)).resolve()


def model_cache() -> Path:
    """Converted base models; RADREPORT_MODEL_CACHE shares them between state directories."""
    return Path(os.environ.get("RADREPORT_MODEL_CACHE") or home() / "models").resolve()


def exports() -> Path:
    return home() / "exports"
