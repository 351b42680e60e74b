import html
from typing import Annotated

import pandas as pd
from zenml import step
from zenml.types import HTMLString

from ops.lineage import link_runs, record_metadata
from radreport import tracking
from radreport.config import StructuringConfig
from radreport.ingest import IngestResult
from radreport.structuring.reports import structure_reports


@step(experiment_tracker=True)
def structure_findings(ingested: IngestResult, structuring: StructuringConfig, schemes_digest: str) -> tuple[
    Annotated[pd.DataFrame, "structured_reports"], Annotated[HTMLString, "structuring_summary"]
]:
    """Split each report's findings into the regions of its modality's scheme (chest: lung, heart, mediastinal,
    bone, others), every sentence kept once. `schemes_digest` (of the scheme files) is here for the cache key."""
    link_runs()
    structured, stats = structure_reports(ingested.reports, structuring)
    tracking.log_metrics(stats, prefix="structuring_")
    where = {"backend": structuring.backend, "model": structuring.model if structuring.backend == "llm" else "rules"}
    tracking.set_tags({"structuring_backend": where["backend"], "structuring_prompt_version": structuring.prompt_version})
    record_metadata({**stats, **where}, artifact_name="structured_reports")
    if stats.get("sent_off_machine"):
        print(f"structure: {stats['sent_off_machine']} reports were sent to {stats.get('endpoint_host')}")
    print(f"structure ({where['backend']}): " + ", ".join(f"{k}={v}" for k, v in stats.items()))
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{v}</td></tr>" for k, v in stats.items())
    return structured, HTMLString(f"<h3>Structuring ({html.escape(where['model'])})</h3><table border=1>{rows}</table>")
