"""The MLflow model registry's versions: registered, listed, found, resolved and downloaded, and the aliases
(champion / challenger) that point at them; their tags are written and read in tags.py."""

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from radreport.errors import RadreportError
from radreport.registry.names import check_model_name, check_version
from radreport.registry.tags import step_of


@dataclass
class VersionInfo:
    version: int
    aliases: list[str]
    tags: dict
    run_id: str


def ensure_model(client: MlflowClient, name: str) -> None:
    """Create the registered model unless it exists; one created meanwhile by another client is no error."""
    if model_exists(client, name):
        return
    try:
        client.create_registered_model(name, description="radreport LoRA adapters; aliases: champion, challenger")
    except MlflowException as err:
        if err.error_code != "RESOURCE_ALREADY_EXISTS":
            raise


def champion_version(client: MlflowClient, name: str) -> Optional[VersionInfo]:
    try:
        version = client.get_model_version_by_alias(name, "champion")
    except MlflowException:
        return None
    return VersionInfo(int(version.version), ["champion"], dict(version.tags), version.run_id)


def aliases_of(client: MlflowClient, name: str, version: int) -> list[str]:
    """The aliases that point at `version` now."""
    return [alias for alias, v in client.get_registered_model(name).aliases.items() if int(v) == version]


def run_and_step(client: MlflowClient, name: str, version: int) -> tuple[str, int]:
    """The MLflow run a version was registered from (the one its evaluation logged to) and its checkpoint step."""
    info = client.get_model_version(name, str(version))
    return info.run_id, step_of(info.tags)


def register(client: MlflowClient, name: str, source: str, run_id: str, tags: dict, model_id: str | None = None) -> int:
    ensure_model(client, name)
    version = client.create_model_version(name, source=source, run_id=run_id, model_id=model_id,
                                          tags={k: str(v) for k, v in tags.items()})
    return int(version.version)


def list_versions(client: MlflowClient, name: Optional[str] = None) -> list[tuple[str, VersionInfo]]:
    """(model name, version) for every registered version, newest first."""
    rows = []
    models = [client.get_registered_model(name)] if name else registered_models(client)
    for model in models:
        aliases_of = {}
        for alias, version in (model.aliases or {}).items():
            aliases_of.setdefault(int(version), []).append(alias)
        for v in versions_of(client, model.name):
            rows.append((model.name, VersionInfo(int(v.version), sorted(aliases_of.get(int(v.version), [])),
                                                 dict(v.tags), v.run_id)))
    return sorted(rows, key=lambda r: (r[0], -r[1].version))


def versions_of(client: MlflowClient, name: str) -> list:
    """Every version of one registered model. MLflow's filter strings have no escapes: a name holding `'` is quoted
    with `"`, one holding both is matched here."""
    if "'" not in name:
        return client.search_model_versions(f"name='{name}'")
    if '"' not in name:
        return client.search_model_versions(f'name="{name}"')
    return [v for v in client.search_model_versions() if v.name == name]


def registered_models(client: MlflowClient) -> list:
    """Every registered model but the decision locks (lock.py) held at this moment."""
    from radreport.registry.lock import is_lock

    return [m for m in client.search_registered_models() if not is_lock(m)]


def find_by_tag(client: MlflowClient, name: str, key: str, value: str) -> Optional[VersionInfo]:
    if not model_exists(client, name):
        return None
    return next((info for _, info in list_versions(client, name) if info.tags.get(key) == value), None)


def model_exists(client: MlflowClient, name: str) -> bool:
    try:
        client.get_registered_model(name)
        return True
    except MlflowException:
        return False


def resolve_version(client: MlflowClient, name: str, version: Optional[str]) -> int:
    """A version number that exists in the registry, or the champion's when none is given."""
    check_model_name(name)
    if version:
        number = check_version(version)
        try:
            client.get_model_version(name, str(number))
        except MlflowException:
            raise RadreportError(f"{name} v{number}: no such registered version") from None
        return number
    champion = champion_version(client, name)
    if champion is None:
        raise RadreportError(f"{name}: no champion yet; name a version")
    return champion.version


def download_checkpoint(client: MlflowClient, name: str, version: int, out: Path):
    """A registered version's adapter bundle, laid out as a one-checkpoint CheckpointSet."""
    import mlflow

    source = client.get_model_version(name, str(version)).source
    download = Path(mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=str(out / "download"),
                                                        tracking_uri=client._tracking_client.tracking_uri))
    return checkpoint_from_bundle(adapter_bundle(download), out)


def adapter_bundle(download: Path) -> Path:
    """The adapter bundle inside a downloaded version: the MLflow model's `adapter` artifact, or (versions
    registered before they were MLflow models) the folder itself."""
    for bundle in (download / "artifacts" / "adapter", download):
        if (bundle / "radreport.json").exists():
            return bundle
    raise RadreportError(f"{download}: neither an MLflow model with an adapter artifact nor an adapter bundle "
                         "(radreport.json); re-register the version from its training run")


def checkpoint_from_bundle(bundle: Path, out: Path):
    """An exported adapter bundle (adapter files, tokenizer/, radreport.json) laid out as a one-checkpoint
    CheckpointSet in `out`."""
    import json
    import shutil

    from radreport.training.checkpoints import CheckpointSet
    from radreport.training.retrieval import FILE as RETRIEVAL_FILE

    manifest = json.loads((bundle / "radreport.json").read_text())
    step_dir = out / f"step-{manifest['step']}"
    step_dir.mkdir(parents=True)
    for file in ("adapter_config.json", "adapter_model.safetensors"):
        shutil.copy2(bundle / file, step_dir / file)
    shutil.copytree(bundle / "tokenizer", out / "tokenizer")
    if (bundle / RETRIEVAL_FILE).exists():
        shutil.copy2(bundle / RETRIEVAL_FILE, out / RETRIEVAL_FILE)
    (out / "manifest.json").write_text(json.dumps(manifest))
    (out / "log_history.json").write_text("[]")
    return CheckpointSet(str(out))
