from typing import Annotated

import pandas as pd
from zenml import step

from ops.lineage import link_runs
from radreport import tracking
from radreport.preference.judge import choose_studies, sampled_candidates
from radreport.training.checkpoints import CheckpointSet


@step(experiment_tracker=True)
def sample_candidates(champion: CheckpointSet, records: pd.DataFrame, sampling: dict) -> Annotated[
    pd.DataFrame, "candidates"
]:
    """The champion's k sampled texts for each of the chosen training studies (`sampling`: the preference config's
    studies, k, temperature, top_p, max_new_tokens, sample_batch_size and seed, so a change to the reward or the
    training reuses this step's cache)."""
    link_runs()
    from radreport.modality import load_adapter

    studies = choose_studies(records, sampling["studies"], sampling["seed"])
    candidates = sampled_candidates(load_adapter(champion, champion.steps[0]), studies, **{
        k: sampling[k] for k in ("k", "max_new_tokens", "temperature", "top_p", "sample_batch_size", "seed")})
    tracking.log_metrics({"preference_judge_studies": len(studies), "preference_judge_texts": len(candidates)})
    print(f"sample: {len(candidates)} texts for {len(studies)} studies")
    return candidates
