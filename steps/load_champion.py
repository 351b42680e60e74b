import tempfile
from pathlib import Path
from typing import Annotated

from mlflow import MlflowClient
from zenml import step

from materializers.checkpoints import CheckpointSetMaterializer
from ops.lineage import link_runs
from radreport import tracking
from radreport.registry.store import download_checkpoint
from radreport.training.checkpoints import CheckpointSet


@step(experiment_tracker=True, output_materializers=CheckpointSetMaterializer)
def load_champion(model_name: str, version: int) -> Annotated[CheckpointSet, "champion"]:
    """A registered version's adapter as a one-checkpoint set (a version never changes, so this caches; which
    version is the champion is read when the run starts)."""
    link_runs()
    checkpoints = download_checkpoint(MlflowClient(), model_name, version,
                                      Path(tempfile.mkdtemp(prefix="radreport-champion-")))
    tracking.set_tags({"preference_started_from": f"{model_name} v{version}"})
    print(f"champion: {model_name} v{version} (step {checkpoints.steps[0]} of its training run)")
    return checkpoints
