import tempfile
from pathlib import Path
from typing import Annotated, Optional

from mlflow import MlflowClient
from zenml import step

from materializers.checkpoints import CheckpointSetMaterializer
from ops.lineage import link_runs
from radreport import tracking
from radreport.errors import RadreportError
from radreport.registry.history import real_champion
from radreport.registry.store import download_checkpoint
from radreport.training.checkpoints import CheckpointSet


@step(experiment_tracker=True, enable_cache=False, output_materializers={"champion": CheckpointSetMaterializer})
def load_champion(model_name: str, version: Optional[int] = None) -> tuple[
    Annotated[CheckpointSet, "champion"], Annotated[int, "champion_version"]
]:
    """The registered champion's adapter (or `version`'s), as a one-checkpoint set; never cached, since the alias
    moves between runs."""
    link_runs()
    client = MlflowClient()
    version = version or real_champion(client, model_name)
    if version is None:
        raise RadreportError(f"{model_name}: no champion to start from; run `python run.py run` first")
    checkpoints = download_checkpoint(client, model_name, version, Path(tempfile.mkdtemp(prefix="radreport-champion-")))
    tracking.set_tags({"preference_started_from": f"{model_name} v{version}"})
    print(f"champion: {model_name} v{version} (step {checkpoints.steps[0]} of its training run)")
    return checkpoints, version
