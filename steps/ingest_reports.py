from typing import Annotated

import pandas as pd
from zenml import step

from ops.lineage import link_runs, record_metadata
from ops.stack import TRACKER
from radreport import tracking
from radreport.config import DataConfig
from radreport.ingest import fingerprint, ingest


@step(experiment_tracker=TRACKER)
def ingest_reports(data: DataConfig, source_fingerprint: str) -> tuple[
    Annotated[pd.DataFrame, "reports"], Annotated[pd.DataFrame, "quarantine"], Annotated[str, "data_fingerprint"]
]:
    """Read reports into the schema; bad rows go to the quarantine with a reason.

    `source_fingerprint` (a hash of the input bytes) is a parameter so that the step re-runs exactly
    when the data changes, and is served from cache otherwise.
    """
    link_runs()
    result = ingest(data.path, data.format, data.val_fraction, data.test_fraction, data.max_chars)
    data_fingerprint = fingerprint(result.reports)
    counts = result.counts
    tracking.log_metrics(counts, prefix="ingest_")
    tracking.set_tags({"data_fingerprint": data_fingerprint, "data_path": data.path})
    record_metadata({**counts, "data_fingerprint": data_fingerprint}, artifact_name="reports")
    print(f"ingest: {data.path}: " + ", ".join(f"{k}={v}" for k, v in counts.items()))
    return result.reports, result.quarantine, data_fingerprint
