from typing import Annotated

import pandas as pd
from zenml import step

from ops.lineage import link_runs
from radreport import tracking
from radreport.config import FormatConfig
from radreport.formatting import alpaca_records


@step(experiment_tracker=True)
def format_alpaca(structured: pd.DataFrame, format: FormatConfig) -> Annotated[pd.DataFrame, "alpaca_records"]:
    """Alpaca (instruction, input, output) records for the configured task."""
    link_runs()
    records, skipped = alpaca_records(structured, format.task)
    counts = {f"records_{s}": int(n) for s, n in records["split"].value_counts().items()}
    counts["records_skipped_missing_section"] = skipped
    tracking.log_metrics(counts)
    print(f"format ({format.task}): " + ", ".join(f"{k}={v}" for k, v in counts.items()))
    return records
