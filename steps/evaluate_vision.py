from typing import Annotated

import pandas as pd
from zenml import step
from zenml.types import HTMLString

from ops.lineage import link_runs, record_metadata
from ops.stack import TRACKER
from radreport.checkpoints import CheckpointSet
from radreport.config import EvalConfig
from radreport.vision_evaluation import evaluate_vision as evaluate
from steps.evaluate_checkpoints import log_examples, report_html


@step(experiment_tracker=TRACKER)
def evaluate_vision(checkpoints: CheckpointSet, records: pd.DataFrame, eval_config: EvalConfig) -> tuple[
    Annotated[pd.DataFrame, "checkpoint_scores"], Annotated[pd.DataFrame, "region_scores"],
    Annotated[pd.DataFrame, "eval_examples"], Annotated[int, "best_step"], Annotated[HTMLString, "evaluation_report"]
]:
    """Reports generated from held-out studies' images, split into regions by their headings and scored overall
    and per region, beside a trivial baseline and the untuned base model."""
    link_runs()
    result = evaluate(checkpoints, records, eval_config)
    record_metadata({f"best_{k}": float(v) for k, v in result.best.items()}, artifact_name="checkpoint_scores")
    log_examples(result.examples)
    print(f"evaluate images ({eval_config.split}, n={len(result.examples)}):\n{result.scores.round(4).to_string()}\n"
          + "\n".join(result.notes))
    return (result.scores.reset_index(names="system"), result.regions, result.examples, result.best_step,
            HTMLString(report_html(result.scores, result.regions, result.notes, [])))
