"""Blinded Turing-style rater packets for radiologists, and the statistics of the ratings that come back.

The packet shows, per case, what the report was written from (the findings, or a study's images) and two texts, A
and B: one written by the radiologist, one by the model, in random order under a random case id. Which is which
lives only in the unblinding key, kept apart. Images are copied into the packet under the case id, so no file name
leads back to the study.
"""

import json
import math
import random
import re
import secrets
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from radreport.errors import RadreportError

SHEET_COLUMNS = ["case_id", "findings", "impression_A", "impression_B", "rating_A", "rating_B", "preferred",
                 "comment", "rater_id"]
IMAGE_SHEET_COLUMNS = ["case_id", "images", "report_A", "report_B", "rating_A", "rating_B", "preferred", "comment",
                       "rater_id"]
KEY_COLUMNS = ["case_id", "report_id", "A", "B"]
IMAGE_SEPARATOR = "; "  # between the packet's image names in a sheet cell
RATING_COLUMNS = ["rater_id", "case_id", "rating_A", "rating_B", "preferred", "comment"]
NORMAL = re.compile(r"\b(no acute|normal|negative|unremarkable|no active|no evidence of (acute|active))\b", re.I)


class RatingsError(RadreportError):
    """Ratings that cannot be imported; the message lists every problem, one per line."""


def is_normal(impression: str) -> bool:
    return bool(NORMAL.search(impression))


def sample_cases(records: pd.DataFrame, split: str, n: int, seed: int, length_of: str = "input") -> pd.DataFrame:
    """n records of a split, stratified by the length of `length_of` (terciles; the findings for text tasks) and
    normal vs abnormal reference."""
    pool = records[records["split"] == split].copy()
    if pool.empty:
        raise ValueError(f"no records in the {split} split for human evaluation")
    tercile = (pool[length_of].str.split().str.len().rank(method="first") - 1) * 3 // len(pool)
    pool["stratum"] = tercile.astype(int).astype(str) + \
        pool["output"].map(is_normal).map({True: "-normal", False: "-abnormal"})
    rng = random.Random(seed)
    groups = {name: list(group.index) for name, group in pool.groupby("stratum")}
    for members in groups.values():
        rng.shuffle(members)
    chosen = []
    while len(chosen) < min(n, len(pool)):  # round robin keeps every stratum represented
        for members in groups.values():
            if members and len(chosen) < n:
                chosen.append(members.pop())
    return pool.loc[chosen].drop(columns="stratum")


def blinded_packet(cases: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """cases: report_id, radiologist, model, and what both were written from: `findings`, or `images` (a study's
    image paths, JSON). Returns (sheet, key), both in the same random order; for images the sheet names the packet's
    copies (images/<case_id>-<n>.png) and the key their sources."""
    rng = random.Random(seed)
    from_images = "images" in cases
    sheet, key = [], []
    for case in cases.to_dict("records"):
        case_id = secrets.token_hex(4)
        sides = [("radiologist", case["radiologist"]), ("model", case["model"])]
        rng.shuffle(sides)
        shown = IMAGE_SEPARATOR.join(packet_image_names(case_id, case["images"])) if from_images else case["findings"]
        sheet.append([case_id, shown, sides[0][1], sides[1][1], "", "", "", "", ""])
        key.append([case_id, case["report_id"], sides[0][0], sides[1][0]] + ([case["images"]] if from_images else []))
    order = list(range(len(sheet)))
    rng.shuffle(order)
    return (pd.DataFrame([sheet[i] for i in order], columns=IMAGE_SHEET_COLUMNS if from_images else SHEET_COLUMNS),
            pd.DataFrame([key[i] for i in order], columns=KEY_COLUMNS + (["images"] if from_images else [])))


def packet_image_names(case_id: str, images: str) -> list[str]:
    return [f"images/{case_id}-{n}{Path(source).suffix}" for n, source in enumerate(json.loads(images), start=1)]


def copy_packet_images(key: pd.DataFrame, out_dir: Path) -> None:
    """The key's source images copied to the names the sheet shows; an earlier packet's images are removed."""
    images = out_dir / "images"
    if images.is_symlink():
        raise RadreportError(f"{images} is a symbolic link: move it away")
    shutil.rmtree(images, ignore_errors=True)
    images.mkdir(parents=True)
    for row in key.itertuples(index=False):
        for name, source in zip(packet_image_names(row.case_id, row.images), json.loads(row.images)):
            shutil.copyfile(source, out_dir / name)


def read_ratings(paths: list[str]) -> pd.DataFrame:
    """Rating CSVs (from the HTML form or the spreadsheet) stacked, each row remembering its file and line."""
    frames = []
    for path in paths:
        try:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
            raise RatingsError(f"{path}: cannot read ratings ({type(err).__name__}: {err})") from None
        missing = [c for c in RATING_COLUMNS if c not in frame.columns and c != "comment"]
        if missing:
            raise RatingsError(f"{path}: missing column(s) {missing}")
        frames.append(frame.assign(source_file=str(path), source_row=range(2, len(frame) + 2)))
    return pd.concat(frames, ignore_index=True)


def whole_rating(text) -> int | None:
    """1-5 from a cell as typed or as a spreadsheet exports it ('4', '4.0', '4e0'); None for anything else."""
    try:
        value = float(str(text).strip())
    except ValueError:
        return None
    return int(value) if math.isfinite(value) and value.is_integer() and 1 <= value <= 5 else None


def validate_ratings(ratings: pd.DataFrame, key: pd.DataFrame) -> pd.DataFrame:
    """Every problem found, one per line, or the clean table; nothing is half-imported. Rater ids are compared
    without case or surrounding spaces ('R1' and 'r1 ' are one rater)."""
    ratings = ratings.copy()
    if ratings.empty:
        raise RatingsError(f"{', '.join(sorted(set(ratings['source_file'])) or ['the files'])}: no ratings, only a header")
    ratings["comment"] = ratings["comment"].fillna("") if "comment" in ratings else ""
    ratings["rater_id"] = ratings["rater_id"].astype(str).str.strip().str.lower()
    known = set(key["case_id"])
    problems = []
    for row in ratings.itertuples(index=False):
        where = f"{row.source_file}: row {row.source_row}"
        if not row.rater_id:
            problems.append(f"{where}: missing rater_id")
        if row.case_id not in known:
            problems.append(f"{where}: unknown case_id {row.case_id!r}")
        for column in ("rating_A", "rating_B"):
            if whole_rating(getattr(row, column)) is None:
                problems.append(f"{where}: {column} must be a whole number 1-5, got {getattr(row, column)!r}")
        if str(row.preferred).strip().upper() not in ("A", "B"):
            problems.append(f"{where}: preferred must be A or B, got {row.preferred!r}")
    duplicated = ratings.duplicated(["rater_id", "case_id"], keep="first")
    for row in ratings[duplicated].itertuples(index=False):
        problems.append(f"{row.source_file}: row {row.source_row}: duplicate rating of case "
                        f"{row.case_id} by rater {row.rater_id}")
    if problems:
        raise RatingsError("\n".join(problems))
    ratings["rating_A"] = ratings["rating_A"].map(whole_rating)
    ratings["rating_B"] = ratings["rating_B"].map(whole_rating)
    ratings["preferred"] = ratings["preferred"].str.strip().str.upper()
    return ratings[RATING_COLUMNS]


def unblind(ratings: pd.DataFrame, key: pd.DataFrame) -> pd.DataFrame:
    """One row per (rater, case): the model's rating, the radiologist's rating, whether the model was preferred."""
    joined = ratings.merge(key, on="case_id")
    model_is_a = joined["A"] == "model"
    return pd.DataFrame({
        "rater_id": joined["rater_id"].astype(str), "case_id": joined["case_id"], "report_id": joined["report_id"],
        "model_rating": np.where(model_is_a, joined["rating_A"], joined["rating_B"]),
        "radiologist_rating": np.where(model_is_a, joined["rating_B"], joined["rating_A"]),
        "preferred_model": np.where(model_is_a, joined["preferred"] == "A", joined["preferred"] == "B"),
    })


def mean_ci(values, seed: int = 0, resamples: int = 10_000) -> tuple[float, float, float]:
    """Mean with a 95% bootstrap percentile interval."""
    values = np.asarray(values, dtype=float)
    means = np.random.default_rng(seed).choice(values, size=(resamples, values.size)).mean(axis=1)
    return float(values.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def krippendorff_alpha_interval(units: dict) -> float:
    """Krippendorff's alpha, interval metric: units maps an item to the ratings it received (any number of raters)."""
    pairable = [np.asarray(v, dtype=float) for v in units.values() if len(v) >= 2]
    n = sum(len(v) for v in pairable)
    if n < 2:
        return float("nan")
    observed = sum(((v[:, None] - v[None, :]) ** 2).sum() / (len(v) - 1) for v in pairable) / n
    everything = np.concatenate(pairable)
    expected = ((everything[:, None] - everything[None, :]) ** 2).sum() / (n * (n - 1))
    return float(1 - observed / expected) if expected else 1.0


def statistics(unblinded: pd.DataFrame) -> dict:
    model = mean_ci(unblinded["model_rating"])
    radiologist = mean_ci(unblinded["radiologist_rating"])
    units = {}
    for row in unblinded.itertuples(index=False):
        units.setdefault((row.case_id, "model"), []).append(row.model_rating)
        units.setdefault((row.case_id, "radiologist"), []).append(row.radiologist_rating)
    per_rater = unblinded.groupby("rater_id").agg(cases=("case_id", "count"), model_mean=("model_rating", "mean"),
                                                  radiologist_mean=("radiologist_rating", "mean"),
                                                  model_preferred=("preferred_model", "mean"))
    return {"ratings": len(unblinded), "raters": int(unblinded["rater_id"].nunique()),
            "cases": int(unblinded["case_id"].nunique()),
            "model_preference_rate": float(unblinded["preferred_model"].mean()),
            "mean_model_rating": model[0], "mean_model_rating_ci": [model[1], model[2]],
            "mean_radiologist_rating": radiologist[0], "mean_radiologist_rating_ci": [radiologist[1], radiologist[2]],
            "krippendorff_alpha_interval": krippendorff_alpha_interval(units),
            "per_rater": per_rater.round(3).reset_index().to_dict("records")}


def summarise(paths: list[str], key: pd.DataFrame) -> dict:
    """Rating CSVs validated against the unblinding key (one problem anywhere and nothing passes), unblinded and
    summarised; registry/ratings.py puts the result on the rated version."""
    return statistics(unblind(validate_ratings(read_ratings(paths), key), key))
