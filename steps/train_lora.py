import tempfile
from pathlib import Path
from typing import Annotated

import pandas as pd
from zenml import step

from materializers.checkpoints import CheckpointSetMaterializer
from ops.lineage import link_runs
from radreport import tracking
from radreport.training.checkpoints import CheckpointSet
from radreport.config import TrainConfig
from radreport.training.distributed import train


@step(experiment_tracker=True, output_materializers=CheckpointSetMaterializer)
def train_lora(records: pd.DataFrame, train_config: TrainConfig, task: str) -> Annotated[CheckpointSet, "checkpoints"]:
    """LoRA fine-tuning of the base model on the train split; every checkpoint's adapter is kept."""
    link_runs()
    tracking.log_params(train_config.model_dump(), prefix="train.")
    checkpoints = train(records, train_config, task, Path(tempfile.mkdtemp(prefix="radreport-train-")))
    tracking.log_artifact(checkpoints.path, "checkpoints")  # adapters, tokenizer, prompt template, base model
    summary = checkpoints.manifest["summary"]
    print(f"train: {summary['global_step']} steps in {summary['train_seconds']} s, "
          f"final train loss {summary['final_train_loss']:.3f}, checkpoints at {checkpoints.steps} "
          f"(best eval loss at step {summary['best_eval_loss_step']})")
    return checkpoints
