from typing import Annotated

import pandas as pd
from zenml import step

from ops.lineage import link_runs, record_metadata
from ops.stack import TRACKER
from radreport.checkpoints import CheckpointSet
from radreport.config import EvalConfig
from radreport.evaluation import evaluate_checkpoints as evaluate


@step(experiment_tracker=TRACKER)
def evaluate_checkpoints(checkpoints: CheckpointSet, records: pd.DataFrame, eval_config: EvalConfig) -> tuple[
    Annotated[pd.DataFrame, "checkpoint_scores"], Annotated[pd.DataFrame, "eval_examples"], Annotated[int, "best_step"]
]:
    """Score the untuned base model and every checkpoint on held-out records; choose the best checkpoint."""
    link_runs()
    result = evaluate(checkpoints, records, eval_config.split, eval_config.max_examples, eval_config.batch_size,
                      eval_config.max_new_tokens, eval_config.select_metric)
    record_metadata({"best_step": result.best_step, "select_metric": result.select_metric,
                     **{f"best_{k}": float(v) for k, v in result.best.items()}}, artifact_name="checkpoint_scores")
    print(f"evaluate ({eval_config.split}, n={len(result.examples)}):\n{result.scores.round(4).to_string()}\n"
          f"best checkpoint: step {result.best_step} by {result.select_metric}")
    return result.scores.reset_index(names="system"), result.examples, result.best_step
