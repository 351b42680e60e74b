from typing import Annotated

import pandas as pd
from zenml import step
from zenml.types import HTMLString

from materializers.evaluation import EvaluationMaterializer
from ops.lineage import link_runs
from radreport.config import EvalConfig
from radreport.evaluation.examples import log_examples
from radreport.evaluation.images import evaluate_vision as evaluate
from radreport.evaluation.result import Evaluation
from radreport.training.checkpoints import CheckpointSet
from steps.evaluate_checkpoints import report_html, summary_text


@step(experiment_tracker=True, output_materializers={"evaluation": EvaluationMaterializer})
def evaluate_vision(checkpoints: CheckpointSet, records: pd.DataFrame, eval_config: EvalConfig) -> tuple[
    Annotated[Evaluation, "evaluation"], Annotated[HTMLString, "evaluation_report"]
]:
    """Reports generated from held-out studies' images, split into regions by their headings and scored overall
    and per region, beside a trivial baseline and the untuned base model."""
    link_runs()
    result = evaluate(checkpoints, records, eval_config)
    log_examples(result.examples)
    print(summary_text(result, eval_config.split))
    return result, HTMLString(report_html(result, []))
