"""Idempotent bootstrap of the local ZenML stack: local orchestrator and artifact store,
MLflow experiment tracker and model registry on one SQLite store inside the artifact store."""

from pathlib import Path

from ops.env import PROJECT_ROOT
from radreport.paths import home

STACK_NAME = "radreport-local"
TRACKER = "mlflow_tracker"


def artifact_root() -> Path:
    return home() / "artifacts"


def tracking_uri() -> str:
    """The MLflow store ZenML's tracker uses when it has no tracking_uri: <artifact store>/mlflow.db."""
    return f"sqlite:///{artifact_root() / 'mlflow.db'}"


def components() -> dict:
    from zenml.enums import StackComponentType as T

    return {
        T.ORCHESTRATOR: ("local_orchestrator", "local", {}),
        T.ARTIFACT_STORE: ("local_artifacts", "local", {"path": str(artifact_root())}),
        T.EXPERIMENT_TRACKER: (TRACKER, "mlflow", {}),
        T.MODEL_REGISTRY: ("mlflow_registry", "mlflow", {}),
    }


def bootstrap() -> str:
    """Create what is missing and activate the stack; running it again changes nothing."""
    from zenml.client import Client
    from zenml.utils import source_utils

    source_utils.set_custom_source_root(str(PROJECT_ROOT))
    client = Client()
    wanted = components()
    for kind, (name, flavor, config) in wanted.items():
        try:
            client.get_stack_component(kind, name, allow_name_prefix_match=False)
        except KeyError:
            client.create_stack_component(name=name, flavor=flavor, component_type=kind, configuration=config)
    try:
        client.get_stack(STACK_NAME, allow_name_prefix_match=False)
    except KeyError:
        client.create_stack(STACK_NAME, components={kind: name for kind, (name, _, _) in wanted.items()})
    if client.active_stack_model.name != STACK_NAME:
        client.activate_stack(STACK_NAME)
    artifact_root().mkdir(parents=True, exist_ok=True)
    return STACK_NAME


def registry_client():
    """An MlflowClient on the stack's tracking store and model registry."""
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri(), registry_uri=tracking_uri())
