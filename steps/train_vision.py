import tempfile
from pathlib import Path
from typing import Annotated

import pandas as pd
from zenml import step

from materializers.checkpoints import CheckpointSetMaterializer
from ops.lineage import link_runs
from radreport import tracking
from radreport.training.checkpoints import CheckpointSet
from radreport.config import VisionTrainConfig
from radreport.vision.training import train_vision_lora


@step(experiment_tracker=True, output_materializers=CheckpointSetMaterializer)
def train_vision(records: pd.DataFrame, train_config: VisionTrainConfig) -> Annotated[CheckpointSet, "checkpoints"]:
    """QLoRA on the language model of a LLaVA-style model; every checkpoint's adapter is kept."""
    link_runs()
    tracking.log_params(train_config.model_dump(), prefix="train.")
    checkpoints = train_vision_lora(records, train_config, Path(tempfile.mkdtemp(prefix="radreport-vision-")))
    tracking.log_artifact(checkpoints.path, "checkpoints")  # adapters, processor, prompt, base model
    summary = checkpoints.manifest["summary"]
    print(f"train (image -> report, {summary['backend']}): {summary['global_step']} steps in "
          f"{summary['train_seconds']} s, {summary['trainable_share']:.2%} of parameters trainable, checkpoints at "
          f"{checkpoints.steps} (lowest validation loss at step {summary['best_eval_loss_step']})")
    return checkpoints
