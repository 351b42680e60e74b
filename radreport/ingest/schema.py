"""The one report schema every source is read into."""

import pandas as pd

REPORT_COLUMNS = {
    "report_id": "Unique id of the report within its source.",
    "patient_id": "Patient id when the source knows it, else empty.",
    "study_date": "Study date (ISO) when known, else empty.",
    "modality": "Imaging modality: chest_xray, ct, mri (radreport.vocabulary), from the source or data.modality.",
    "indication": "Reason for the exam.",
    "comparison": "Prior studies compared against.",
    "findings": "FINDINGS section text.",
    "impression": "IMPRESSION section text.",
    "image_ids": "Image ids joined by ';'.",
    "source": "Which reader produced the row (iu-csv, openi-xml, csv, jsonl, parquet, synthetic).",
    "split": "train, validation or test.",
    "duplicate_of": "report_id of an earlier report with the same text (case, spacing, punctuation ignored), else empty.",
    "original": "The raw input row as JSON, for audit.",
}
QUARANTINE_COLUMNS = ["source_file", "row", "reason", "detail", "original"]
SPLITS = ("train", "validation", "test")


def empty_reports() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="string") for c in REPORT_COLUMNS})


def validate_reports(table: pd.DataFrame) -> pd.DataFrame:
    """Fail loudly if a table is not in the report schema."""
    missing = set(REPORT_COLUMNS) - set(table.columns)
    if missing:
        raise ValueError(f"report table lacks columns: {sorted(missing)}")
    bad_split = set(table["split"]) - set(SPLITS)
    if bad_split:
        raise ValueError(f"report table has unknown splits: {sorted(bad_split)}")
    if table["report_id"].duplicated().any():
        raise ValueError("report table has duplicate report_id values")
    return table[list(REPORT_COLUMNS)]
