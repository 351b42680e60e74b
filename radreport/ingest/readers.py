"""The five source readers: IU X-Ray CSV folders (with R2Gen's split), Open-i XML, MIMIC-style and plain-text folders,
and CSV / JSON / JSONL / Parquet tables; each yields raw rows mapped onto the schema's field names. A column name
may be a dotted path into nested records (`Case.Findings`)."""

import codecs
import csv
import io
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pandas as pd

from radreport.errors import RadreportError
from radreport.ingest.openi import parse_openi_xml
from radreport.ingest.sections import parse_sections

ALIASES = {
    "report_id": ("report_id", "id", "uid", "study_id", "r2gen_id"),
    "patient_id": ("patient_id", "subject_id"),
    "study_date": ("study_date", "date"),
    "modality": ("modality",),
    "indication": ("indication",),
    "comparison": ("comparison",),
    "findings": ("findings", "section_findings", "report"),
    "impression": ("impression", "section_impression"),
    "split": ("split", "r2gen_split"),
    "image_ids": ("image_ids", "images", "image_path"),
    "source": ("source",),
    "text": ("text", "report_text", "full_text"),
}


TEXT_FIELDS = ("indication", "comparison", "findings", "impression")


SPLIT_NAMES = {"train": "train", "val": "validation", "valid": "validation", "validation": "validation", "test": "test"}


R2GEN_UID = re.compile(r"^CXR(\d+)_")


MIMIC_PATIENT, MIMIC_STUDY = re.compile(r"^p\d+$"), re.compile(r"^s\d+$")


# Valid text never holds a lone surrogate, so one marks bytes the file's encoding could not decode (or a JSON
# "\udXXX" escape that no UTF-8 file can store): the row holding it is quarantined, the rest of the file read.
LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def mark_undecodable(error: UnicodeDecodeError) -> tuple[str, int]:
    """Each undecodable byte as a lone surrogate (surrogateescape refuses bytes below 0x80, which UTF-16 has)."""
    return "".join(chr(0xDC00 + b) for b in error.object[error.start:error.end]), error.end


codecs.register_error("radreport-mark", mark_undecodable)


class IngestError(RadreportError):
    """A source that cannot be read at all; the message names the file and what is wrong."""


@dataclass
class RawRow:
    source_file: str
    row: int
    fields: dict                      # schema field -> raw value; {"error": ...} when unparseable
    original: object                  # the input as read, for the audit trail


def detect_format(path: Path) -> str:
    if path.is_dir():
        if (path / "indiana_reports.csv").exists():
            return "iu-csv"
        if next(path.glob("*.xml"), None):
            return "openi-xml"
        if next(path.rglob("p*/s*.txt"), None):
            return "mimic"
        if next(path.rglob("*.txt"), None):
            return "text-dir"
        raise IngestError(f"{path}: folder holds no reports (indiana_reports.csv, *.xml or *.txt)")
    suffix = path.suffix.lower().lstrip(".")
    if suffix in ("csv", "json", "jsonl", "parquet"):
        return suffix
    raise IngestError(f"{path}: unknown report format (name it: data.format)")


def decode(path: Path, data: bytes) -> str:
    """Text of a file: UTF-8 (with or without BOM), UTF-16 with BOM (undecodable bytes marked, so only their rows
    are quarantined), else Windows-1252 (Excel's and Word's exports: Latin-1 would turn its '…' into U+0085, a line
    break), else Latin-1; binary is refused."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return data.decode("utf-16", "radreport-mark")
    if b"\x00" in data[:4096]:
        raise IngestError(f"{path}: binary content, not text")
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            pass
    return data.decode("latin-1")


def csv_records(path: Path, text: str) -> tuple[list[dict], list[str]]:
    """The rows of a CSV text and its header. A field of any length is read (an over-long report is then
    quarantined as too_long, not the whole file refused); a malformed file raises IngestError naming the row."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    limit = csv.field_size_limit(2**31 - 1)
    try:
        rows, names = list(reader), reader.fieldnames or []
    except csv.Error as err:
        raise IngestError(f"{path}: row {reader.line_num}: {err}") from None
    finally:
        csv.field_size_limit(limit)
    if LONE_SURROGATE.search("".join(names)):
        raise IngestError(f"{path}: the header holds bytes its encoding cannot decode; nothing in it can be read")
    return rows, names


def read_text(path: Path) -> str:
    data = path.read_bytes()
    if not data.strip():
        raise IngestError(f"{path}: file is empty")
    return decode(path, data)


def missing(value) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def image_ids(value) -> str:
    """Image ids as one ';'-joined text; TypeError for a value that is neither text nor a list."""
    if missing(value) or isinstance(value, str):
        return "" if missing(value) else value
    if isinstance(value, dict) or not isinstance(value, Iterable):
        raise TypeError(f"image_ids: expected text or a list, got {type(value).__name__}")
    names = [str(v.get("filename", "")) if isinstance(v, dict) else str(v) for v in value]
    return ";".join(n for n in names if n)


def lookup(record: dict, column: str) -> tuple[bool, object]:
    """(found, value) for a column name, or for a dotted path into nested records when no key has that name."""
    if column in record:
        return True, record[column]
    value = record
    for key in column.split("."):
        if not isinstance(value, dict) or key not in value:
            return False, None
        value = value[key]
    return True, value


def mapped_fields(record: dict, columns: dict[str, str]) -> dict:
    fields = {}
    for name, aliases in ALIASES.items():
        for column in ((columns[name],) if name in columns else aliases):
            found, value = lookup(record, column)
            if found:
                fields[name] = value
                break
    text = fields.pop("text", None)
    if isinstance(text, str) and not any(isinstance(fields.get(f), str) and fields[f] for f in ("findings", "impression")):
        fields.update({k: v for k, v in parse_sections(text).items() if k in TEXT_FIELDS})
    return fields


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


def read_iu_csv(folder: Path, columns: dict) -> Iterator[RawRow]:
    reports = folder / "indiana_reports.csv"
    splits = r2gen_splits(folder)
    images: dict[str, list[str]] = {}
    projections = folder / "indiana_projections.csv"
    if projections.exists():
        for row in csv_records(projections, read_text(projections))[0]:
            images.setdefault(row["uid"], []).append(row["filename"])
    rows, names = csv_records(reports, read_text(reports))
    require_columns(reports, names, ("uid", "findings", "impression"))
    for n, row in enumerate(rows, start=2):
        fields = mapped_fields(row, columns)
        # Studies outside R2Gen's split train, so its test split stays exactly the literature's.
        fields["split"] = splits.get(row["uid"], "train") if splits else None
        if splits and row["uid"] not in splits:
            fields["split_reason"] = "outside_r2gen"
        fields["image_ids"] = ";".join(images.get(row["uid"], []))
        yield RawRow(str(reports), n, fields, row)


def read_files(folder: Path, pattern: str, parse) -> Iterator[RawRow]:
    """One report per file; a file that cannot be read is quarantined, the others go on."""
    for path in sorted(folder.rglob(pattern)):
        try:
            data = path.read_bytes()
            fields = parse(path, data)
        except (IngestError, ValueError) as err:
            fields = {"error": str(err).removeprefix(f"{path}: ")}
        yield RawRow(str(path), 1, fields, {"file": str(path.relative_to(folder))})


def parse_xml_file(path: Path, data: bytes) -> dict:
    return parse_openi_xml(data)


def parse_text_file(path: Path, data: bytes) -> dict:
    if not data.strip():
        raise ValueError("file is empty")
    text = decode(path, data)
    sections = parse_sections(text)
    fields = {k: v for k, v in sections.items() if k in TEXT_FIELDS}
    if "findings" not in fields and "impression" not in fields:
        fields["findings"] = sections.get("preamble", "")  # a report without headings is all findings
    fields["report_id"] = path.stem
    patient = path.parent.name  # MIMIC-CXR: files/p10/p10000032/s50414267.txt
    if MIMIC_PATIENT.match(patient):
        fields["patient_id"] = patient
        fields["report_id"] = f"{patient}/{path.stem}" if MIMIC_STUDY.match(path.stem) else path.stem
    return fields


def read_table(path: Path, fmt: str, columns: dict) -> Iterator[RawRow]:
    if fmt == "parquet":
        try:
            frame = pd.read_parquet(path)
        except Exception as err:  # pyarrow raises many types for a corrupt file
            raise IngestError(f"{path}: not a readable Parquet file ({type(err).__name__})") from None
        records, names = frame.to_dict("records"), list(frame.columns)
        first_row = 1
    elif fmt == "csv":
        records, names = csv_records(path, read_text(path))
        first_row = 2
    elif fmt == "json":
        records, first_row = json_records(path, read_text(path)), 1
        names = {c for c in columns.values() for r in records if "__error__" not in r and lookup(r, c)[0]} | \
            {key for record in records if "__error__" not in record for key in record}
    else:
        records, names, first_row = [], set(), 1
        for line in read_text(path).split("\n"):  # not splitlines(): U+2028 and U+0085 may sit inside a record
            try:
                record = json.loads(line) if line.strip() else None
            except json.JSONDecodeError as err:
                record = {"__error__": f"invalid JSON: {err.msg}", "__line__": line[:200]}
            except RecursionError:
                record = {"__error__": "JSON nested too deeply", "__line__": line[:200]}
            if record is not None and not isinstance(record, dict):
                record = {"__error__": "JSON line is not an object", "__line__": line[:200]}
            records.append(record)
            names.update(record or ())
    wanted = [columns.get(f) for f in ("findings", "impression", "text") if columns.get(f)] or \
        ALIASES["findings"] + ALIASES["impression"] + ALIASES["text"]
    if not any(c in names for c in wanted):
        raise IngestError(f"{path}: no findings, impression or report text column (looked for {wanted})")
    for n, record in enumerate(records, start=first_row):
        if record is None:
            continue  # blank JSONL line: nothing was there to read
        if "__error__" in record:
            yield RawRow(str(path), n, {"error": record["__error__"]}, record)
        else:
            yield RawRow(str(path), n, mapped_fields(record, columns), record)


def named(record: dict) -> bool:
    return any(alias in record for alias in ALIASES["report_id"])


def json_records(path: Path, text: str) -> list[dict]:
    """A JSON file's records: an array of objects, or an object of objects (its keys become report ids when the
    records name none). A non-object record is quarantined; a file that is not JSON raises IngestError."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        hint = "; one record per line is JSONL: name it .jsonl or set data.format: jsonl" if err.msg == "Extra data" else ""
        raise IngestError(f"{path}: line {err.lineno}: invalid JSON ({err.msg}){hint}") from None
    except RecursionError:
        raise IngestError(f"{path}: JSON nested too deeply to read") from None
    if isinstance(data, dict) and len(data) == 1 and isinstance(next(iter(data.values())), list):
        data = next(iter(data.values()))  # a wrapped export: {"reports": [...]}
    if isinstance(data, dict):
        data = [{"report_id": key, **record} if isinstance(record, dict) and not named(record) else record
                for key, record in data.items()]
    if not isinstance(data, list):
        raise IngestError(f"{path}: JSON holds neither an array of records nor an object of records")
    return [record if isinstance(record, dict) else
            {"__error__": f"record is a JSON {type(record).__name__}, not an object", "__line__": str(record)[:200]}
            for record in data]


def require_columns(path: Path, names, required) -> None:
    absent = [c for c in required if c not in names]
    if absent:
        raise IngestError(f"{path}: missing required column(s) {absent}")


def read_rows(path: Path, fmt: str, columns: dict) -> Iterator[RawRow]:
    if fmt == "iu-csv":
        return read_iu_csv(path, columns)
    if fmt == "openi-xml":
        return read_files(path, "*.xml", parse_xml_file)
    if fmt in ("mimic", "text-dir"):
        return read_files(path, "*.txt", parse_text_file)
    return read_table(path, fmt, columns)
