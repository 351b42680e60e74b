"""Read radiology reports from any supported source into the report schema.

Every row read ends in exactly one place: the accepted table or the quarantine, with a machine-readable reason
(`accepted + quarantined == read`, always). A source that cannot be read at all raises IngestError with one line
naming the file. Readers (readers.py), acceptance and duplicates (acceptance.py), fingerprints (fingerprints.py),
sections, splits, the PHI screen, remote sources and the synthetic sample each have their own module here.
"""

import json
from collections import Counter
from dataclasses import dataclass, field

import pandas as pd

from radreport.config import DataConfig
from radreport.ingest.acceptance import accept, text_key
from radreport.ingest.fingerprints import fingerprint, local_copy, source_fingerprint
from radreport.ingest.phi import phi_hits
from radreport.ingest.readers import TEXT_FIELDS, IngestError, detect_format, read_rows
from radreport.ingest.schema import QUARANTINE_COLUMNS, REPORT_COLUMNS, empty_reports, validate_reports
from radreport.ingest.splits import assign_split

__all__ = ["IngestError", "IngestResult", "fingerprint", "ingest", "source_fingerprint"]


@dataclass
class IngestResult:
    reports: pd.DataFrame
    quarantine: pd.DataFrame
    read: int
    phi: dict = field(default_factory=dict)
    split_reasons: dict = field(default_factory=dict)  # why accepted rows got a split other than their source's

    @property
    def counts(self) -> dict:
        counts = {"read": self.read, "accepted": len(self.reports), "quarantined": len(self.quarantine),
                  "duplicate_text_kept": int((self.reports["duplicate_of"] != "").sum())}
        counts.update({f"split_{s}": int(n) for s, n in self.reports["split"].value_counts().items()})
        counts.update({f"quarantined_{r}": int(n) for r, n in self.quarantine["reason"].value_counts().items()})
        counts.update({f"phi_{k}": n for k, n in self.phi.items()})
        counts.update({f"split_{r}_to_train": n for r, n in self.split_reasons.items()})
        return counts


def ingest(paths, cfg: DataConfig | None = None, **overrides) -> IngestResult:
    """Read one or more sources (`paths`: a path or a list) into the report schema."""
    cfg = (cfg or DataConfig()).model_copy(update=overrides)
    accepted, quarantined, seen_ids, first_with_text, phi, read = [], [], set(), {}, Counter(), 0
    split_reasons = Counter()
    for source in paths if isinstance(paths, (list, tuple)) else [paths]:
        with local_copy(source) as path:
            if not path.exists():
                raise IngestError(f"{path}: no such file or folder")
            fmt = detect_format(path) if cfg.format == "auto" else cfg.format
            for raw in read_rows(path, fmt, cfg.columns):
                read += 1
                row, problem = accept(raw, cfg)
                if row and row["report_id"] in seen_ids:
                    row, problem = None, ("duplicate_id", f"report_id {row['report_id']} seen before")
                if row:
                    key = text_key(row)
                    row["duplicate_of"] = first_with_text.setdefault(key, row["report_id"])
                    if row["duplicate_of"] == row["report_id"]:
                        row["duplicate_of"] = ""
                    elif cfg.duplicates == "quarantine":
                        row, problem = None, ("duplicate_text", f"same text as report {row['duplicate_of']}")
                if problem:
                    original = raw.original if isinstance(raw.original, dict) else {"value": raw.original}
                    source_file = str(raw.source_file).replace(str(path), str(source).rstrip("/"), 1)  # the URL, if fetched
                    quarantined.append([source_file, raw.row, *problem, json.dumps(original, default=str)[:2000]])
                    continue
                seen_ids.add(row["report_id"])
                if cfg.phi_check != "off":
                    phi.update(phi_hits(" ".join(row[f] for f in TEXT_FIELDS)))
                row["source"] = row["source"] or fmt
                row["split"] = row["split"] or assign_split(row["patient_id"] or row["report_id"],
                                                            cfg.val_fraction, cfg.test_fraction)
                if "split_reason" in raw.fields:
                    split_reasons[raw.fields["split_reason"]] += 1
                accepted.append(row)
    if cfg.phi_check == "refuse" and phi:
        raise IngestError(f"{paths}: likely identifiers found ({dict(phi)}); refusing to continue (data.phi_check=refuse)")
    reports = pd.DataFrame(accepted, columns=list(REPORT_COLUMNS)) if accepted else empty_reports()
    quarantine = pd.DataFrame(quarantined, columns=QUARANTINE_COLUMNS)
    return IngestResult(validate_reports(reports.astype("string")), quarantine, read, dict(phi), dict(split_reasons))
