"""Fingerprints for lineage and caching: of the accepted table, and of the source's bytes (or a URL's metadata)."""

import hashlib
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pandas as pd

from radreport.ingest.readers import IngestError
from radreport.ingest.remote import fetch, is_remote, remote_fingerprint
from radreport.ingest.schema import REPORT_COLUMNS

def fingerprint(reports: pd.DataFrame) -> str:
    """Content hash of the accepted table (order-independent), for lineage."""
    columns = [c for c in REPORT_COLUMNS if c != "original"]
    canonical = reports[columns].sort_values("report_id").to_csv(index=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


@contextmanager
def local_copy(source) -> Iterator[Path]:
    """A local path for a source; one at a URL is fetched into a temporary folder, deleted once it is read."""
    if not is_remote(source):
        yield Path(source)
        return
    with tempfile.TemporaryDirectory(prefix="radreport-data-") as tmp:
        try:
            path = fetch(str(source), Path(tmp))
        except FileNotFoundError as err:
            raise IngestError(str(err)) from None
        yield path


def source_fingerprint(path: str | Path) -> str:
    """Hash of the input bytes (of the store's metadata for a URL), so a pipeline re-ingests exactly when the
    data changed."""
    if is_remote(path):
        return remote_fingerprint(str(path))
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.name.encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()[:16]
