"""Read radiology reports from any supported source into the report schema.

Every row read ends in exactly one place: the accepted table or the quarantine (with a reason).
"""

import csv
import hashlib
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pandas as pd

from radreport.openi import parse_openi_xml
from radreport.schema import QUARANTINE_COLUMNS, REPORT_COLUMNS, empty_reports, validate_reports
from radreport.splits import assign_split

FORMATS = ("iu-csv", "openi-xml", "csv", "jsonl", "parquet")
ALIASES = {
    "report_id": ("report_id", "id", "uid", "study_id", "r2gen_id"),
    "patient_id": ("patient_id", "subject_id"),
    "study_date": ("study_date", "date"),
    "indication": ("indication",),
    "comparison": ("comparison",),
    "findings": ("findings", "section_findings", "report"),
    "impression": ("impression", "section_impression"),
    "split": ("split", "r2gen_split"),
    "image_ids": ("image_ids", "images", "image_path"),
    "source": ("source",),
}
SPLIT_NAMES = {"train": "train", "val": "validation", "valid": "validation", "validation": "validation", "test": "test"}
R2GEN_UID = re.compile(r"^CXR(\d+)_")


class IngestError(Exception):
    """A source that cannot be read at all; the message names the file and what is wrong."""


@dataclass
class RawRow:
    source_file: str
    row: int
    fields: dict
    original: dict


@dataclass
class IngestResult:
    reports: pd.DataFrame
    quarantine: pd.DataFrame
    read: int

    @property
    def counts(self) -> dict:
        counts = {"read": self.read, "accepted": len(self.reports), "quarantined": len(self.quarantine)}
        for split, n in self.reports["split"].value_counts().items():
            counts[f"split_{split}"] = int(n)
        for reason, n in self.quarantine["reason"].value_counts().items():
            counts[f"quarantined_{reason}"] = int(n)
        return counts


def detect_format(path: Path) -> str:
    if path.is_dir():
        if (path / "indiana_reports.csv").exists():
            return "iu-csv"
        if any(path.glob("*.xml")):
            return "openi-xml"
        raise IngestError(f"{path}: folder holds neither indiana_reports.csv nor OpenI *.xml files")
    suffix = path.suffix.lower()
    if suffix in (".csv", ".jsonl", ".parquet"):
        return suffix[1:]
    raise IngestError(f"{path}: unknown report format (use --format)")


def clean_text(value) -> str:
    """Collapse whitespace and line endings; keep case and de-identification placeholders."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    if not isinstance(value, str):
        raise TypeError(f"expected text, got {type(value).__name__}")
    return " ".join(value.split())


def image_ids(value) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    if isinstance(value, str):
        return value
    names = [v.get("filename", "") if isinstance(v, dict) else str(v) for v in value]
    return ";".join(n for n in names if n)


def pick(record: dict, field: str):
    for name in ALIASES[field]:
        if name in record:
            return record[name]
    return None


def mapped_fields(record: dict) -> dict:
    fields = {f: pick(record, f) for f in ALIASES}
    fields["image_ids"] = image_ids(fields["image_ids"])
    return fields


def read_text(path: Path) -> str:
    data = path.read_bytes()
    if not data.strip():
        raise IngestError(f"{path}: file is empty")
    for encoding in ("utf-8-sig", "utf-16") if data[:2] in (b"\xff\xfe", b"\xfe\xff") else ("utf-8-sig",):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            pass
    return data.decode("latin-1")


def r2gen_splits(folder: Path) -> dict[str, str]:
    """uid -> split from the R2Gen annotation file, when the folder has one."""
    path = folder / "r2gen_annotation.json"
    if not path.exists():
        return {}
    splits = {}
    for key, records in json.loads(path.read_text()).items():
        split = SPLIT_NAMES.get(key.strip(), "test")  # the test key is blank in some copies
        for record in records:
            match = R2GEN_UID.match(record["id"])
            if match:
                splits[match.group(1)] = split
    return splits


def read_iu_csv(folder: Path) -> Iterator[RawRow]:
    reports = folder / "indiana_reports.csv"
    splits = r2gen_splits(folder)
    images: dict[str, list[str]] = {}
    projections = folder / "indiana_projections.csv"
    if projections.exists():
        for row in csv.DictReader(io.StringIO(read_text(projections))):
            images.setdefault(row["uid"], []).append(row["filename"])
    rows = csv.DictReader(io.StringIO(read_text(reports)))
    require_columns(reports, rows.fieldnames or [], ("uid", "findings", "impression"))
    for n, row in enumerate(rows, start=2):
        fields = mapped_fields(row)
        fields["split"] = splits.get(row["uid"])
        fields["image_ids"] = ";".join(images.get(row["uid"], []))
        yield RawRow(str(reports), n, fields, row)


def read_openi_xml(folder: Path) -> Iterator[RawRow]:
    for n, path in enumerate(sorted(folder.glob("*.xml")), start=1):
        try:
            fields = parse_openi_xml(path.read_bytes())
        except ValueError as err:
            yield RawRow(str(path), 1, {"error": str(err)}, {"file": path.name})
            continue
        yield RawRow(str(path), 1, fields, {"file": path.name})


def read_table(path: Path, fmt: str) -> Iterator[RawRow]:
    if fmt == "parquet":
        records = pd.read_parquet(path).to_dict("records")
        columns = list(records[0]) if records else []
    elif fmt == "csv":
        reader = csv.DictReader(io.StringIO(read_text(path)))
        records, columns = list(reader), reader.fieldnames or []
    else:
        records, columns = [], set()
        for n, line in enumerate(read_text(path).splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                record = {"__error__": f"invalid JSON: {err.msg}", "__line__": line[:200]}
            records.append(record)
            columns.update(record)
    if not any(c in columns for c in ALIASES["findings"] + ALIASES["impression"]):
        raise IngestError(f"{path}: no findings or impression column (looked for {ALIASES['findings'] + ALIASES['impression']})")
    for n, record in enumerate(records, start=2 if fmt == "csv" else 1):
        if "__error__" in record:
            yield RawRow(str(path), n, {"error": record["__error__"]}, record)
        else:
            yield RawRow(str(path), n, mapped_fields(record), record)


def require_columns(path: Path, columns, required) -> None:
    missing = [c for c in required if c not in columns]
    if missing:
        raise IngestError(f"{path}: missing required column(s) {missing}")


def read_rows(path: Path, fmt: str) -> Iterator[RawRow]:
    if not path.exists():
        raise IngestError(f"{path}: no such file or folder")
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt == "iu-csv":
        return read_iu_csv(path)
    if fmt == "openi-xml":
        return read_openi_xml(path)
    return read_table(path, fmt)


def accept(raw: RawRow, max_chars: int) -> tuple[dict | None, tuple[str, str] | None]:
    """Turn a raw row into a schema row, or say why it is quarantined."""
    if "error" in raw.fields:
        return None, ("unparseable", raw.fields["error"])
    try:
        text = {f: clean_text(raw.fields.get(f)) for f in ("indication", "comparison", "findings", "impression")}
    except TypeError as err:
        return None, ("non_text", str(err))
    if not text["findings"] and not text["impression"]:
        return None, ("empty_text", "findings and impression are both empty")
    if len(text["findings"]) + len(text["impression"]) > max_chars:
        return None, ("too_long", f"over {max_chars} characters")
    report_id = str(raw.fields.get("report_id") or f"{Path(raw.source_file).stem}:{raw.row}")
    return {
        "report_id": report_id,
        "patient_id": str(raw.fields.get("patient_id") or ""),
        "study_date": str(raw.fields.get("study_date") or ""),
        "modality": "CXR",
        **text,
        "image_ids": raw.fields.get("image_ids") or "",
        "split": SPLIT_NAMES.get(str(raw.fields.get("split") or "").strip().lower(), ""),
        "source": raw.fields.get("source") or "",
        "original": json.dumps(raw.original, default=str, ensure_ascii=False),
    }, None


def ingest(path: str | Path, fmt: str = "auto", val_fraction: float = 0.1, test_fraction: float = 0.1,
           max_chars: int = 20_000) -> IngestResult:
    path = Path(path)
    source = detect_format(path) if fmt == "auto" else fmt
    accepted, quarantined, seen_ids, read = [], [], set(), 0
    for raw in read_rows(path, fmt):
        read += 1
        row, problem = accept(raw, max_chars)
        if row and row["report_id"] in seen_ids:
            row, problem = None, ("duplicate_id", f"report_id {row['report_id']} seen before")
        if problem:
            reason, detail = problem
            quarantined.append([raw.source_file, raw.row, reason, detail, json.dumps(raw.original, default=str)[:2000]])
            continue
        seen_ids.add(row["report_id"])
        row["source"] = row["source"] or source
        row["split"] = row["split"] or assign_split(row["patient_id"] or row["report_id"], val_fraction, test_fraction)
        accepted.append(row)
    reports = pd.DataFrame(accepted, columns=list(REPORT_COLUMNS)) if accepted else empty_reports()
    quarantine = pd.DataFrame(quarantined, columns=QUARANTINE_COLUMNS)
    return IngestResult(validate_reports(reports.astype("string")), quarantine, read)


def fingerprint(reports: pd.DataFrame) -> str:
    """Content hash of the accepted table (order-independent), for lineage."""
    columns = [c for c in REPORT_COLUMNS if c != "original"]
    canonical = reports[columns].sort_values("report_id").to_csv(index=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def source_fingerprint(path: str | Path) -> str:
    """Hash of the input bytes, so a pipeline re-ingests exactly when the data changed."""
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.name.encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()[:16]
