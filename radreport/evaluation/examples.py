"""Both ends of the per-example artifact, `evaluation/eval_examples.csv` in the evaluation's MLflow run: the texts
every system wrote and their per-example scores ('<system>.<metric>' columns). The evaluation writes it for text and
image models alike; the gate's significance test reads a version's column back."""

import tempfile
from pathlib import Path

import pandas as pd

from radreport import tracking
from radreport.evaluation.systems import system_of_step
from radreport.metrics import example_column
from radreport.sheets import write_csv

FOLDER, FILE = "evaluation", "eval_examples.csv"


def log_examples(examples: pd.DataFrame) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        write_csv(examples, Path(tmp) / FILE)
        tracking.log_artifact(Path(tmp) / FILE, FOLDER)


def example_scores(examples: pd.DataFrame, step: int, metric: str) -> pd.Series:
    """Checkpoint `step`'s per-example score standing for corpus `metric`, indexed by report id."""
    return examples.set_index("report_id")[f"{system_of_step(step)}.{example_column(metric)}"]


def read_examples(run_id: str, tracking_uri: str) -> pd.DataFrame:
    """The examples logged by the evaluation in MLflow run `run_id`."""
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=f"{FOLDER}/{FILE}", dst_path=tmp,
                                                   tracking_uri=tracking_uri)
        return pd.read_csv(path, dtype={"report_id": str})
