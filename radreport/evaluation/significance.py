"""Is a candidate's difference from the champion more than chance? The paired approximate-randomisation test
(metrics.paired_randomization) on both versions' per-example scores, read back from the per-example artifact each
one's evaluation logged (examples.py). The gate asks it when the policy sets `significance`."""

from typing import Optional

from mlflow.exceptions import MlflowException


def per_example_scores(run_id: str, step: int, metric: str, tracking_uri: str):
    """Checkpoint `step`'s per-example `metric` on the examples its evaluation logged in MLflow run `run_id`,
    indexed by report id."""
    from radreport.evaluation.examples import example_scores, read_examples

    return example_scores(read_examples(run_id, tracking_uri), step, metric)


def paired_p_value(candidate: tuple[str, int], champion: tuple[str, int], metric: str,
                   tracking_uri: str) -> Optional[float]:
    """Approximate-randomisation p-value of candidate vs champion, each given as (evaluation run id, checkpoint
    step), or None when they were not scored on the same examples (or a per-example score is missing)."""
    from radreport.metrics import paired_randomization

    try:
        ours, theirs = (per_example_scores(run, step, metric, tracking_uri) for run, step in (candidate, champion))
    except (MlflowException, OSError, KeyError):  # no artifact, or no per-example score for this metric
        return None
    if set(ours.index) != set(theirs.index):
        return None
    return paired_randomization(ours.sort_index(), theirs.sort_index())["p_value"]
