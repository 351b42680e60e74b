import base64
import html
import tempfile
from pathlib import Path
from typing import Annotated

import pandas as pd
from zenml import step
from zenml.types import HTMLString

from ops.lineage import link_runs, record_metadata
from ops.stack import TRACKER
from radreport import tracking
from radreport.checkpoints import CheckpointSet
from radreport.config import EvalConfig
from radreport.evaluation import evaluate_checkpoints as evaluate
from radreport.plots import loss_plot, metrics_plot
from radreport.sheets import write_csv


@step(experiment_tracker=TRACKER)
def evaluate_checkpoints(checkpoints: CheckpointSet, records: pd.DataFrame, eval_config: EvalConfig) -> tuple[
    Annotated[pd.DataFrame, "checkpoint_scores"], Annotated[pd.DataFrame, "region_scores"],
    Annotated[pd.DataFrame, "eval_examples"], Annotated[int, "best_step"], Annotated[HTMLString, "evaluation_report"]
]:
    """Score the trivial baseline, the untuned base model and every checkpoint on held-out records, overall and
    per region; choose the best checkpoint."""
    link_runs()
    result = evaluate(checkpoints, records, eval_config)
    record_metadata({"best_step": result.best_step, "select_metric": result.select_metric,
                     **{f"best_{k}": float(v) for k, v in result.best.items()}}, artifact_name="checkpoint_scores")
    with tempfile.TemporaryDirectory() as tmp:
        plots = [metrics_plot(result.scores, Path(tmp) / "metrics_by_checkpoint.png"),
                 loss_plot(checkpoints.log_history, Path(tmp) / "train_loss.png")]
        for path in plots:
            tracking.log_artifact(path, "evaluation")
        log_examples(result.examples)
        report = report_html(result.scores, result.regions, result.notes, plots)
    print(f"evaluate ({eval_config.split}, n={len(result.examples)}):\n{result.scores.round(4).to_string()}\n"
          f"best checkpoint: step {result.best_step} by {result.select_metric}\n" + "\n".join(result.notes))
    return (result.scores.reset_index(names="system"), result.regions, result.examples, result.best_step,
            HTMLString(report))


def log_examples(examples: pd.DataFrame) -> None:
    """The per-example texts and scores as `evaluation/eval_examples.csv`: what the gate's significance test reads
    (gate.per_example_scores), for text and image models alike."""
    with tempfile.TemporaryDirectory() as tmp:
        write_csv(examples, Path(tmp) / "eval_examples.csv")
        tracking.log_artifact(Path(tmp) / "eval_examples.csv", "evaluation")


def report_html(scores: pd.DataFrame, regions: pd.DataFrame, notes: list[str], plots: list[Path]) -> str:
    images = "".join(f'<img src="data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()}">' for p in plots)
    return (f"<h3>Held-out evaluation</h3>{scores.round(4).to_html()}<h4>Per region</h4>"
            f"{regions.round(4).to_html(index=False)}<p>{'<br>'.join(map(html.escape, notes))}</p>{images}")
