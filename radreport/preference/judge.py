"""Preference pairs from a clinical judge: the champion writes k texts per training study, the reward ranks them
against the study's reference, and the best and worst make a pair when their rewards differ by the margin.

The studies are a seeded subset of the train split, half with a reference asserting a finding (where there are
enough): sampling every training study at k=4 costs hours on two cores, and the abnormal studies are where the
champion's errors are. Prompts are built as in training: a study never sees itself as its retrieval example.
"""

import pandas as pd

from radreport.clinical.labeler import FINDINGS, shared_labeler, positive_set
from radreport.preference.reward import rewards
from radreport.preference.sampling import sample
from radreport.training.retrieval import prompts_for

PAIR_COLUMNS = ["report_id", "prompt", "chosen", "rejected", "chosen_reward", "rejected_reward", "source"]


def choose_studies(records: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """n distinct training studies, half (or as many as there are) with a reference asserting a finding."""
    train = records[records["split"] == "train"].drop_duplicates("report_id")
    abnormal = pd.Series([bool(positive_set(labels) & set(FINDINGS)) for labels in
                          shared_labeler().label(train["output"].tolist())], index=train.index)
    take_abnormal = min(int(abnormal.sum()), n // 2)
    chosen = pd.concat([train[abnormal].sample(n=take_abnormal, random_state=seed),
                        train[~abnormal].sample(n=min(int((~abnormal).sum()), n - take_abnormal), random_state=seed)])
    return chosen.sample(frac=1, random_state=seed).reset_index(drop=True)


def study_prompts(checkpoints, studies: pd.DataFrame) -> list[str]:
    instruction = checkpoints.manifest["instruction"]
    return prompts_for(checkpoints, [instruction] * len(studies), studies["input"].tolist(),
                       own_outputs=studies["output"].tolist())


def sampled_candidates(adapter, studies: pd.DataFrame, k: int, max_new_tokens: int, temperature: float, top_p: float,
                       sample_batch_size: int, seed: int) -> pd.DataFrame:
    """One row per sampled text: report_id, prompt, reference, text."""
    prompts = study_prompts(adapter.checkpoints, studies)
    texts = sample(adapter.model, adapter.tokenizer, prompts, k, max_new_tokens, temperature, top_p, sample_batch_size,
                   seed)
    return pd.DataFrame([{"report_id": rid, "prompt": p, "reference": ref, "text": t}
                         for rid, p, ref, written in zip(studies["report_id"], prompts, studies["output"], texts)
                         for t in written])


def judged(candidates: pd.DataFrame, cfg) -> pd.DataFrame:
    """The candidates with the reward and its terms beside each (`cfg`: the reward's weights)."""
    scored = rewards(candidates["reference"].tolist(), candidates["text"].tolist(), cfg)
    return pd.concat([candidates.reset_index(drop=True), scored], axis=1)


def best_worst_pairs(candidates: pd.DataFrame, margin: float) -> pd.DataFrame:
    """Per study, (best, worst) by reward when the gap is at least `margin` and the texts differ."""
    pairs = []
    for report_id, group in candidates.groupby("report_id", sort=False):
        ranked = group.sort_values("reward", ascending=False, kind="stable")
        best, worst = ranked.iloc[0], ranked.iloc[-1]
        if best["reward"] - worst["reward"] >= margin and best["text"] != worst["text"]:
            pairs.append([report_id, best["prompt"], best["text"], worst["text"], best["reward"], worst["reward"],
                          "judge"])
    return pd.DataFrame(pairs, columns=PAIR_COLUMNS)
