"""Process environment for radreport: set before ZenML, MLflow or transformers are imported."""

import os
from pathlib import Path

import yaml

from radreport.paths import DEFAULT_HOME

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CLIENT_CHOICE = "RADREPORT_ZENML_CLIENT"  # how the ZenML client was chosen, for `run.py stack`

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


def zenml_login_config(environ) -> Path:
    """ZenML's own global config file (click's app dir for "zenml"), where `zenml login` records a server."""
    return Path(environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "zenml" / "config.yaml"


def users_zenml_client(environ) -> str | None:
    """How the user chose a ZenML client, or None: an explicit ZENML_CONFIG_PATH, a server named by ZENML_STORE_URL,
    or a `zenml login` to a server recorded in ZenML's global config (its store is `rest`)."""
    for variable in ("ZENML_CONFIG_PATH", "ZENML_STORE_URL"):
        if environ.get(variable):
            return variable
    config = zenml_login_config(environ)
    try:
        store = (yaml.safe_load(config.read_text()) or {}).get("store") or {}
    except (OSError, yaml.YAMLError, AttributeError):
        return None
    return f"zenml login ({config})" if store.get("type") == "rest" else None


def configure(home: str | Path | None = None) -> Path:
    """Point radreport's stores at one state directory (flag > RADREPORT_HOME > ./.radreport). The ZenML client is the
    user's when they chose one (users_zenml_client); only otherwise the embedded one under <state dir>/zenml."""
    root = Path(home or os.environ.get("RADREPORT_HOME") or DEFAULT_HOME).resolve()
    os.environ["RADREPORT_HOME"] = str(root)
    # A child process (or a second call) inherits the embedded client's ZENML_CONFIG_PATH: that is no user choice.
    embedded = os.environ.get(CLIENT_CHOICE) == "embedded"
    choice = None if embedded else users_zenml_client(os.environ)
    if choice is None:
        os.environ["ZENML_CONFIG_PATH"] = str(root / "zenml")
    os.environ[CLIENT_CHOICE] = choice or "embedded"
    for key, value in DEFAULTS.items():
        os.environ.setdefault(key, value)
    return root
