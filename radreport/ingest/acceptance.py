"""Acceptance of one raw row into the schema, or its reason for the quarantine; the text key duplicates share."""

import json
import re
from pathlib import Path

from radreport.config import DataConfig
from radreport.ingest.readers import LONE_SURROGATE, SPLIT_NAMES, TEXT_FIELDS, RawRow, image_ids, missing
from radreport.vocabulary import PROMPT_NAMES, modality_name

PLACEHOLDER = re.compile(r"\bX{3,}\b|_{3,}")


PUNCTUATION_TO_SPACE = str.maketrans({c: " " for c in map(chr, range(128)) if not c.isalnum()})


def clean_text(value, placeholder: str | None = None) -> str:
    """Collapse whitespace and line endings; keep case. Placeholders kept unless a replacement is configured."""
    if missing(value):
        return ""
    if not isinstance(value, str):
        raise TypeError(f"expected text, got {type(value).__name__}")
    text = " ".join(value.split())
    return PLACEHOLDER.sub(placeholder, text) if placeholder is not None else text


def accept(raw: RawRow, cfg: DataConfig) -> tuple[dict | None, tuple[str, str] | None]:
    """A schema row, or (reason, detail) for the quarantine."""
    if "error" in raw.fields:
        return None, ("unparseable", raw.fields["error"])
    if LONE_SURROGATE.search(json.dumps([raw.fields, raw.original], default=str, ensure_ascii=False)):
        return None, ("undecodable", "holds bytes the file's encoding cannot decode")
    try:
        text = {f: clean_text(raw.fields.get(f), cfg.placeholder) for f in TEXT_FIELDS}
        images = image_ids(raw.fields.get("image_ids"))
    except TypeError as err:
        return None, ("non_text", str(err))
    if not text["findings"] and not text["impression"]:
        return None, ("empty_text", "findings and impression are both empty")
    if len(text["findings"]) + len(text["impression"]) > cfg.max_chars:
        return None, ("too_long", f"over {cfg.max_chars} characters")
    modality = cfg.modality
    if not missing(raw.fields.get("modality")) and str(raw.fields["modality"]).strip():
        modality = modality_name(raw.fields["modality"])
        if modality is None:
            return None, ("unknown_modality", f"modality {str(raw.fields['modality'])[:40]!r} is none of "
                                              f"{', '.join(PROMPT_NAMES)} (CXR, CT, MR, US)")
    report_id = raw.fields.get("report_id")
    return {
        "report_id": str(report_id) if not missing(report_id) and report_id != "" else f"{Path(raw.source_file).stem}:{raw.row}",
        "patient_id": "" if missing(raw.fields.get("patient_id")) else str(raw.fields["patient_id"]),
        "study_date": "" if missing(raw.fields.get("study_date")) else str(raw.fields["study_date"]),
        "modality": modality,
        **text,
        "image_ids": images,
        "source": raw.fields.get("source") or "",
        "split": SPLIT_NAMES.get(str(raw.fields.get("split") or "").strip().lower(), ""),
        "duplicate_of": "",
        "original": json.dumps(raw.original, default=str, ensure_ascii=False),
    }, None


def text_key(row: dict) -> str:
    """Report text with case, spacing, punctuation and placeholders ignored: equal keys are (near-)duplicates."""
    text = f"{row['findings']} | {row['impression']}".lower().replace("xxxx", " ")
    return " ".join(text.translate(PUNCTUATION_TO_SPACE).split())
