from typing import Annotated

from zenml import step

from materializers.report_table import IngestResultMaterializer
from ops.lineage import link_runs
from radreport import tracking
from radreport.config import DataConfig
from radreport.ingest import IngestResult, fingerprint, ingest


@step(experiment_tracker=True, output_materializers={"ingested": IngestResultMaterializer})
def ingest_reports(data: DataConfig, source_fingerprint: str) -> tuple[
    Annotated[IngestResult, "ingested"], Annotated[str, "data_fingerprint"]
]:
    """Read reports into the schema; bad rows go to the quarantine with a reason.

    `source_fingerprint` (a hash of the input bytes) is a parameter so that the step re-runs exactly
    when the data changes, and is served from cache otherwise.
    """
    link_runs()
    result = ingest(data.path, data)
    data_fingerprint = fingerprint(result.reports)
    counts = result.counts
    tracking.log_metrics(counts, prefix="ingest_")
    tracking.set_tags({"data_fingerprint": data_fingerprint, "data_path": data.path})
    print(f"ingest: {data.path}: " + ", ".join(f"{k}={v}" for k, v in counts.items()))
    return result, data_fingerprint
