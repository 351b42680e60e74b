"""Blinded Turing-style rater packets: the sheet shows A and B in random order; the key is kept apart."""

import random
import secrets

import pandas as pd

SHEET_COLUMNS = ["case_id", "findings", "impression_A", "impression_B", "rating_A_1to5", "rating_B_1to5",
                 "preferred_A_or_B", "comment", "rater_id"]
KEY_COLUMNS = ["case_id", "report_id", "A", "B"]


def blinded_packet(cases: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """cases: report_id, findings, radiologist, model. Returns (sheet, key)."""
    rng = random.Random(seed)
    sheet, key = [], []
    for case in cases.itertuples(index=False):
        case_id = secrets.token_hex(4)  # random, so ids carry no order or source
        sides = [("radiologist", case.radiologist), ("model", case.model)]
        rng.shuffle(sides)
        sheet.append([case_id, case.findings, sides[0][1], sides[1][1], "", "", "", "", ""])
        key.append([case_id, case.report_id, sides[0][0], sides[1][0]])
    order = list(range(len(sheet)))
    rng.shuffle(order)
    return (pd.DataFrame([sheet[i] for i in order], columns=SHEET_COLUMNS),
            pd.DataFrame([key[i] for i in order], columns=KEY_COLUMNS))


def sample_cases(records: pd.DataFrame, split: str, n: int, seed: int) -> pd.DataFrame:
    """n records of a split, reproducibly."""
    pool = records[records["split"] == split]
    if pool.empty:
        raise ValueError(f"no records in the {split} split for human evaluation")
    return pool.sample(n=min(n, len(pool)), random_state=seed)
