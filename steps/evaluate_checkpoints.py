import base64
import html
import tempfile
from pathlib import Path
from typing import Annotated

import pandas as pd
from zenml import step
from zenml.types import HTMLString

from materializers.evaluation import EvaluationMaterializer
from ops.lineage import link_runs
from radreport import tracking
from radreport.config import EvalConfig
from radreport.evaluation.examples import log_examples
from radreport.evaluation.plots import loss_plot, metrics_plot
from radreport.evaluation.result import Evaluation
from radreport.modality import evaluate
from radreport.training.checkpoints import CheckpointSet


@step(experiment_tracker=True, output_materializers={"evaluation": EvaluationMaterializer})
def evaluate_checkpoints(checkpoints: CheckpointSet, records: pd.DataFrame, eval_config: EvalConfig) -> tuple[
    Annotated[Evaluation, "evaluation"], Annotated[HTMLString, "evaluation_report"]
]:
    """Score the baselines, the untuned base model and every checkpoint on held-out records, overall and per
    region; choose the best checkpoint. Text and image runs alike: the modality decides what is written and how."""
    link_runs()
    result = evaluate(checkpoints, records, eval_config)
    with tempfile.TemporaryDirectory() as tmp:
        plots = [metrics_plot(result.scores, Path(tmp) / "metrics_by_checkpoint.png"),
                 loss_plot(checkpoints.log_history, Path(tmp) / "train_loss.png")]
        for path in plots:
            tracking.log_artifact(path, "evaluation")
        log_examples(result.examples)
        report = report_html(result, plots)
    print(summary_text(result, eval_config.split))
    return result, HTMLString(report)


def summary_text(result: Evaluation, split: str) -> str:
    return (f"evaluate ({split}, n={len(result.examples)}): best checkpoint step {result.best_step} by "
            f"{result.select_metric}\n{result.shown().round(4).to_string()}\n" + "\n".join(result.notes))


def report_html(result: Evaluation, plots: list[Path]) -> str:
    images = "".join(f'<img src="data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()}">' for p in plots)
    return (f"<h3>Held-out evaluation (best checkpoint: step {result.best_step} by {result.select_metric})</h3>"
            f"{result.scores.round(4).to_html()}<h4>Per region</h4>{result.regions.round(4).to_html(index=False)}"
            f"<p>{'<br>'.join(map(html.escape, result.notes))}</p>{images}")
