"""The ZenML stack radreport runs on, and the one MLflow store every step and command uses.

The stack is the user's: whatever stack is active in their ZenML client (ops/env.py says which client) is used as it
is. Only where the user has chosen none (ZenML's `default` stack is active, as on a fresh install) or asks for it
(`run.py stack --local`) is the embedded stack created and activated: local orchestrator and artifact store, MLflow
experiment tracker and model registry on one SQLite store inside the artifact store.

The MLflow store comes from the active stack's MLflow experiment tracker (which ZenML's MLflow model registry uses
too; secret references resolved by ZenML into this process's environment, never printed), else from
MLFLOW_TRACKING_URI / MLFLOW_REGISTRY_URI, else the embedded store. One that cannot be reached is an error naming it,
never a quiet fallback to a local store: that would split the registry."""

import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from ops.env import PROJECT_ROOT
from radreport.errors import RadreportError
from radreport.paths import home

STACK_NAME = "radreport-local"
TRACKER = "mlflow_tracker"
ZENML_DEFAULT_STACK = "default"
URI_SCHEMES = ("http", "https", "sqlite", "postgresql", "mysql", "mssql", "file", "databricks")


def artifact_root() -> Path:
    return home() / "artifacts"


def embedded_tracking_uri() -> str:
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


def create_embedded_stack(client) -> None:
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
    artifact_root().mkdir(parents=True, exist_ok=True)


def bootstrap(local: bool = False) -> str:
    """The stack the pipeline runs on: the active one when the user chose it, else (or with `local`) the embedded
    stack, created if missing and activated. Running it again changes nothing."""
    from zenml.client import Client
    from zenml.utils import source_utils

    source_utils.set_custom_source_root(str(PROJECT_ROOT))
    client = Client()
    active = client.active_stack_model.name
    if active not in (ZENML_DEFAULT_STACK, STACK_NAME) and not local:
        check_tracker(client)
        return active
    create_embedded_stack(client)
    if active != STACK_NAME:
        client.activate_stack(STACK_NAME)
    return STACK_NAME


def check_tracker(client) -> None:
    """The pipeline's tracked steps log to the stack's MLflow experiment tracker: a stack without one is named."""
    from zenml.enums import StackComponentType

    tracker = client.active_stack_model.components.get(StackComponentType.EXPERIMENT_TRACKER)
    if not tracker or tracker[0].flavor_name != "mlflow":
        raise RadreportError(f"stack {client.active_stack_model.name!r} has no MLflow experiment tracker: add one "
                             "(configs/stacks/team.sh shows how) or run `run.py stack --local` for the embedded stack")


@dataclass(frozen=True)
class MlflowTarget:
    tracking_uri: str
    registry_uri: str
    source: str  # where the URIs came from, for `run.py stack` and errors

    @property
    def shown(self) -> str:
        return redacted(self.tracking_uri) + ("" if self.registry_uri == self.tracking_uri else
                                              f" (registry {redacted(self.registry_uri)})")


def mlflow_target() -> MlflowTarget:
    """The MLflow tracking and registry URIs every step and command uses (see the module's docstring); credentials
    of the stack's tracker are set in this process's environment as MLflow reads them."""
    from zenml.client import Client

    stack = Client().active_stack
    tracker = stack.experiment_tracker
    if tracker is not None and tracker.flavor == "mlflow":
        tracker.configure_mlflow()
        uri = tracker.get_tracking_uri()  # ZenML's MLflow model registry uses the tracker's store
        return MlflowTarget(uri, uri, f"stack {stack.name}'s experiment tracker {tracker.name}")
    tracking = os.environ.get("MLFLOW_TRACKING_URI")
    if tracking:
        return MlflowTarget(tracking, os.environ.get("MLFLOW_REGISTRY_URI") or tracking, "MLFLOW_TRACKING_URI")
    return MlflowTarget(embedded_tracking_uri(), embedded_tracking_uri(), "the embedded store")


def redacted(uri: str) -> str:
    """The URI without a password in it (postgresql://user:secret@host/db)."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")))


def checked(target: MlflowTarget) -> MlflowTarget:
    """The target, after each URI is well-formed and an HTTP server answers /health: else one line naming it."""
    for uri in {target.tracking_uri, target.registry_uri}:
        scheme = urlsplit(uri).scheme.split("+")[0]
        if scheme not in URI_SCHEMES and not (scheme == "" and uri.startswith("/")):
            raise RadreportError(f"MLflow URI {redacted(uri)!r} (from {target.source}) is not a URI MLflow stores "
                                 f"take ({', '.join(URI_SCHEMES)})")
        if scheme in ("http", "https"):
            try:
                with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=10):
                    pass
            except (urllib.error.URLError, OSError, ValueError) as err:
                raise RadreportError(f"MLflow server {redacted(uri)} (from {target.source}) is unreachable: "
                                     f"{getattr(err, 'reason', err)}") from None
    return target


def use_mlflow() -> MlflowTarget:
    """Point this process's MLflow at the checked target (mlflow.* calls and MlflowClient() without URIs)."""
    import mlflow

    target = checked(mlflow_target())
    mlflow.set_tracking_uri(target.tracking_uri)
    mlflow.set_registry_uri(target.registry_uri)
    return target


def tracking_uri() -> str:
    return mlflow_target().tracking_uri


def registry_client():
    """An MlflowClient on the stack's tracking store and model registry."""
    from mlflow import MlflowClient

    target = use_mlflow()
    return MlflowClient(tracking_uri=target.tracking_uri, registry_uri=target.registry_uri)
