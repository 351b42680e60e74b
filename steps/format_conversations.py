from typing import Annotated

import pandas as pd
from zenml import step

from ops.lineage import link_runs
from radreport import tracking
from radreport.vision.format import vision_records


@step(experiment_tracker=True)
def format_conversations(studies: pd.DataFrame, prompt: str) -> Annotated[pd.DataFrame, "conversation_records"]:
    """Conversation records: the study's images and the prompt, answered by its region-structured findings."""
    link_runs()
    records, skipped = vision_records(studies, prompt)
    counts = {**{f"records_{s}": int(n) for s, n in records["split"].value_counts().items()},
              "records_skipped_missing_findings": skipped}
    tracking.log_metrics(counts)
    print("format (image -> structured report): " + ", ".join(f"{k}={v}" for k, v in counts.items()))
    return records
