from typing import Annotated

import pandas as pd
from zenml import step

from ops.lineage import link_runs
from ops.stack import TRACKER
from radreport import tracking
from radreport.config import StructuringConfig
from radreport.ingest import IngestResult
from radreport.structuring import REGIONS, structure_table


@step(experiment_tracker=TRACKER)
def structure_findings(ingested: IngestResult, structuring: StructuringConfig) -> Annotated[pd.DataFrame, "structured_reports"]:
    """Split each report's findings into lung, heart, mediastinal, bone and others."""
    link_runs()
    structured = structure_table(ingested.reports)
    filled = {f"structured_{r}_reports": int((structured[r].fillna("") != "").sum()) for r in REGIONS}
    tracking.log_metrics(filled)
    print(f"structure ({structuring.backend}): " + ", ".join(f"{k}={v}" for k, v in filled.items()))
    return structured
