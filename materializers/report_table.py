"""Stores an ingest result (accepted reports + quarantine + counts) and draws its dashboard summary."""

import html
import json
import os

import pandas as pd
from zenml.enums import ArtifactType, VisualizationType
from zenml.io import fileio
from zenml.materializers.base_materializer import BaseMaterializer

from radreport.ingest import IngestResult, fingerprint


class IngestResultMaterializer(BaseMaterializer):
    ASSOCIATED_TYPES = (IngestResult,)
    ASSOCIATED_ARTIFACT_TYPE = ArtifactType.DATA

    def _path(self, name: str) -> str:
        return os.path.join(self.uri, name)

    def save(self, data: IngestResult) -> None:
        with fileio.open(self._path("reports.parquet"), "wb") as f:
            data.reports.to_parquet(f, index=False)
        with fileio.open(self._path("quarantine.parquet"), "wb") as f:  # not CSV: a file someone opens in Excel
            data.quarantine.astype({"row": "int64"}).to_parquet(f, index=False)
        with fileio.open(self._path("summary.json"), "w") as f:
            json.dump({"read": data.read, "phi": data.phi}, f)

    def load(self, data_type: type) -> IngestResult:
        with fileio.open(self._path("reports.parquet"), "rb") as f:
            reports = pd.read_parquet(f).astype("string")
        if fileio.exists(self._path("quarantine.parquet")):
            with fileio.open(self._path("quarantine.parquet"), "rb") as f:
                quarantine = pd.read_parquet(f)
        else:  # stored before quarantines were Parquet
            with fileio.open(self._path("quarantine.csv"), "r") as f:
                quarantine = pd.read_csv(f, dtype={"source_file": str, "reason": str, "detail": str, "original": str})
        with fileio.open(self._path("summary.json"), "r") as f:
            summary = json.load(f)
        return IngestResult(reports, quarantine, summary["read"], summary["phi"])

    def extract_metadata(self, data: IngestResult) -> dict:
        return {**data.counts, "data_fingerprint": fingerprint(data.reports)}

    def save_visualizations(self, data: IngestResult) -> dict:
        path = self._path("summary.html")
        with fileio.open(path, "w") as f:
            f.write(summary_html(data))
        return {path: VisualizationType.HTML}


def table(rows: dict, header: tuple[str, str]) -> str:
    body = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>" for k, v in rows.items())
    return f"<table border=1 cellpadding=4><tr><th>{header[0]}</th><th>{header[1]}</th></tr>{body}</table>"


def summary_html(data: IngestResult) -> str:
    reports = data.reports
    lengths = {f"{col} words (median / p95)": (f"{reports[col].str.split().str.len().median():.0f} / "
                                                f"{reports[col].str.split().str.len().quantile(0.95):.0f}")
               for col in ("findings", "impression")} if len(reports) else {}
    return ("<h3>Ingest</h3>" + table({"read": data.read, "accepted": len(reports), "quarantined": len(data.quarantine)},
                                      ("", "reports"))
            + "<h4>Per split</h4>" + table(reports["split"].value_counts().to_dict(), ("split", "reports"))
            + "<h4>Section lengths</h4>" + table(lengths, ("section", "words"))
            + "<h4>Quarantine reasons</h4>" + table(data.quarantine["reason"].value_counts().to_dict(), ("reason", "rows"))
            + "<h4>Likely identifiers (PHI screen)</h4>" + table(data.phi or {"none found": ""}, ("kind", "reports")))
