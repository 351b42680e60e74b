"""Radiologists' ratings imported onto the registered version they rated: validated, unblinded and summarised by
human_eval/ratings.py against the unblinding key the version's run logged, then kept as the version's tags and its
run's metrics (tags.py), the whole statistics as a run artifact, and the version's model card rebuilt."""

import json
import tempfile

import mlflow
import pandas as pd
from mlflow import MlflowClient

from radreport.human_eval.ratings import summarise
from radreport.registry.model_card import refresh_card_quietly
from radreport.registry.tags import set_human_eval


def import_ratings(client: MlflowClient, name: str, version: int, paths: list[str],
                   key_path: str | None = None) -> dict:
    """Validate, unblind and summarise ratings of a registered version; results go to its MLflow run and tags."""
    run_id = client.get_model_version(name, str(version)).run_id
    with tempfile.TemporaryDirectory() as tmp:
        if key_path is None:
            key_path = mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path="human_eval/unblinding_key.csv", dst_path=tmp,
                tracking_uri=client._tracking_client.tracking_uri)
        key = pd.read_csv(key_path, dtype=str)
    stats = summarise(paths, key)
    set_human_eval(client, name, version, run_id, stats)
    client.log_text(run_id, json.dumps(stats, indent=2), "human_eval/results.json")
    refresh_card_quietly(client, name, version)  # the card shows the ratings
    return stats
