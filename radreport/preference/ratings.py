"""Preference data from radiologists' ratings of a blinded packet.

Each rated text (the model's or the radiologist's, A or B in the sheet) becomes a KTO example: desirable at a
rating of `rating_desirable` or more, undesirable at `rating_undesirable` or less, left out in between. Where a
rater preferred one text of a case, the case becomes a DPO pair (preferred vs the other). The prompt is the case's
input as the model was trained to read it. Cases are joined to their studies through the unblinding key, and only
studies of the train split are kept: a rated test or validation case would otherwise train on what the model is
then judged on. Nothing of the key (report ids, which side was the model) leaves this module but counts.
"""

import pandas as pd

from radreport.errors import RadreportError
from radreport.human_eval.ratings import validate_ratings
from radreport.preference.judge import PAIR_COLUMNS
from radreport.training.retrieval import prompts_for

KTO_COLUMNS = ["report_id", "prompt", "completion", "label", "source"]


class UnknownCases(RadreportError):
    """A ratings file names cases the packet does not have."""


def check_cases(ratings: pd.DataFrame, key: pd.DataFrame) -> None:
    """One line naming every case the key does not know, per file."""
    unknown = ratings[~ratings["case_id"].isin(set(key["case_id"]))]
    if len(unknown):
        lines = [f"{path}: case(s) not in the rated packet: {', '.join(sorted(set(group['case_id'])))}"
                 for path, group in unknown.groupby("source_file")]
        raise UnknownCases("\n".join(lines))


def rated_texts(ratings: pd.DataFrame, sheet: pd.DataFrame, key: pd.DataFrame) -> pd.DataFrame:
    """One row per (rating, side): which rating, report_id, the case's input, the text, its rating, whether it was
    preferred."""
    text_column = next(c for c in sheet.columns if c.endswith("_A") and not c.startswith("rating"))
    stem = text_column[:-2]
    cases = sheet.merge(key[["case_id", "report_id"]], on="case_id").set_index("case_id")
    rows = []
    for number, rating in enumerate(ratings.itertuples(index=False)):
        case = cases.loc[rating.case_id]
        for side in "AB":
            rows.append({"rating_row": number, "report_id": case["report_id"], "input": case["findings"], "side": side,
                         "text": case[f"{stem}_{side}"], "rating": getattr(rating, f"rating_{side}"),
                         "preferred": rating.preferred == side})
    return pd.DataFrame(rows)


def preferences_from_ratings(ratings: pd.DataFrame, sheet: pd.DataFrame, key: pd.DataFrame, records: pd.DataFrame,
                             checkpoints, cfg) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """(KTO rows, DPO pairs, counts) from validated-on-read ratings of `sheet`'s packet. `checkpoints`: the rated
    model, whose prompt format the examples take."""
    check_cases(ratings, key)
    ratings = validate_ratings(ratings, key)
    texts = rated_texts(ratings, sheet, key)
    train_ids = set(records.loc[records["split"] == "train", "report_id"])
    held_out = ~texts["report_id"].isin(train_ids)
    counts = {"ratings": len(ratings), "rated_cases_outside_train": int(texts.loc[held_out, "report_id"].nunique())}
    texts = texts[~held_out].reset_index(drop=True)
    texts["prompt"] = prompts_for(checkpoints, [checkpoints.manifest["instruction"]] * len(texts),
                                  texts["input"].tolist()) if len(texts) else []
    label = texts["rating"].map(lambda r: True if r >= cfg.rating_desirable else
                                False if r <= cfg.rating_undesirable else None)
    kto = texts[label.notna()].assign(completion=lambda t: t["text"], label=label[label.notna()].astype(bool),
                                      source="ratings")[KTO_COLUMNS]
    pairs = []
    for _, group in texts.groupby("rating_row", sort=False):  # the two sides of one rating
        chosen, rejected = group[group["preferred"]], group[~group["preferred"]]
        if len(chosen) == 1 and len(rejected) == 1 and chosen["text"].iat[0] != rejected["text"].iat[0]:
            pairs.append([chosen["report_id"].iat[0], chosen["prompt"].iat[0], chosen["text"].iat[0],
                          rejected["text"].iat[0], float(chosen["rating"].iat[0]), float(rejected["rating"].iat[0]),
                          "ratings"])
    counts.update(kto_desirable=int(kto["label"].sum()), kto_undesirable=int((~kto["label"]).sum()),
                  dpo_pairs=len(pairs))
    return kto.reset_index(drop=True), pd.DataFrame(pairs, columns=PAIR_COLUMNS), counts
