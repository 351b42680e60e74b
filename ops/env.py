"""Process environment for radreport: set before ZenML, MLflow or transformers are imported."""

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

DEFAULTS = {
    "ZENML_ANALYTICS_OPT_IN": "false",
    "ZENML_AUTO_OPEN_DASHBOARD": "false",
    "ZENML_ENABLE_RICH_TRACEBACK": "false",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "HF_HUB_OFFLINE": "1",  # nothing is downloaded from a hub at run time
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "DISABLE_MLFLOW_INTEGRATION": "false",
}


def configure(home: str | Path | None = None) -> Path:
    """Point every store at one state directory (flag > RADREPORT_HOME > ./.radreport)."""
    root = Path(home or os.environ.get("RADREPORT_HOME") or PROJECT_ROOT / ".radreport").resolve()
    os.environ["RADREPORT_HOME"] = str(root)
    os.environ["ZENML_CONFIG_PATH"] = str(root / "zenml")
    for key, value in DEFAULTS.items():
        os.environ.setdefault(key, value)
    return root
