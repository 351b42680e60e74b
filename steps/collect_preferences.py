import hashlib
import tempfile
from pathlib import Path
from typing import Annotated, Optional

import pandas as pd
from mlflow import MlflowClient
from zenml import step

from ops.lineage import link_runs
from radreport import tracking
from radreport.config import PreferenceConfig
from radreport.human_eval.ratings import read_ratings
from radreport.preference.judge import PAIR_COLUMNS, best_worst_pairs, judged
from radreport.preference.ratings import KTO_COLUMNS, preferences_from_ratings
from radreport.sheets import read_csv
from radreport.training.checkpoints import CheckpointSet


@step(experiment_tracker=True)
def collect_preferences(champion: CheckpointSet, candidates: Optional[pd.DataFrame], records: pd.DataFrame,
                        preference: PreferenceConfig, model_name: str, rated_version: int) -> tuple[
    Annotated[pd.DataFrame, "preference_pairs"], Annotated[pd.DataFrame, "rated_texts"], Annotated[dict, "preference_counts"]
]:
    """DPO pairs (and KTO texts) from the clinical judge (the champion's sampled `candidates`, each scored against
    its study's reference) and/or radiologists' ratings of `rated_version`'s packet; the counts say how many each
    source gave. Only counts are logged: the unblinding key stays in the registry's run."""
    link_runs()
    pairs, rated, counts = [pd.DataFrame(columns=PAIR_COLUMNS)], pd.DataFrame(columns=KTO_COLUMNS), {}
    if candidates is not None:
        scored = judged(candidates, preference)
        pairs.append(best_worst_pairs(scored, preference.margin))
        counts.update(judge_studies=int(scored["report_id"].nunique()), judge_texts=len(scored),
                      judge_pairs=len(pairs[-1]), judge_mean_reward=round(float(scored["reward"].mean()), 4))
    if preference.source in ("ratings", "both"):
        sheet, key = rated_packet(MlflowClient(), model_name, rated_version)
        rated, rating_pairs, rating_counts = preferences_from_ratings(read_ratings(preference.ratings), sheet, key,
                                                                      records, champion, preference)
        pairs.append(rating_pairs)
        counts.update({f"ratings_{k}": v for k, v in rating_counts.items()})
    pairs = pd.concat([p for p in pairs if len(p)] or pairs[:1], ignore_index=True)
    counts.update(pairs=len(pairs), pairs_sha256=hashlib.sha256(pairs.to_json().encode()).hexdigest()[:16])
    tracking.log_metrics({f"preference_{k}": v for k, v in counts.items() if isinstance(v, (int, float))})
    print("preferences: " + ", ".join(f"{k}={v}" for k, v in counts.items()))
    return pairs, rated, counts


def rated_packet(client: MlflowClient, name: str, version: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rater sheet and unblinding key logged by the rated version's training run."""
    import mlflow

    run_id = client.get_model_version(name, str(version)).run_id
    with tempfile.TemporaryDirectory() as tmp:
        paths = [mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=path, dst_path=tmp,
                                                     tracking_uri=client._tracking_client.tracking_uri)
                 for path in ("human_eval/packet/rater_sheet.csv", "human_eval/unblinding_key.csv")]
        return read_csv(Path(paths[0])), read_csv(Path(paths[1]))
