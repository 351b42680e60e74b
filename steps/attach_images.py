from pathlib import Path
from typing import Annotated

import pandas as pd
from zenml import step

from ops.lineage import link_runs
from radreport import tracking
from radreport.config import ImagesConfig
from radreport.vision.images import attach_images as attach
from radreport.vision.images import csv_image_index, iu_image_index


@step(experiment_tracker=True)
def attach_images(structured: pd.DataFrame, images: ImagesConfig, data_path: str) -> tuple[
    Annotated[pd.DataFrame, "studies_with_images"], Annotated[pd.DataFrame, "image_quarantine"]
]:
    """Pair each structured report with its images (frontal first); a missing or unreadable image, and a study
    with none readable, go to the image quarantine with a reason."""
    link_runs()
    index = (csv_image_index(Path(images.index), images.columns) if images.index
             else iu_image_index(Path(data_path), Path(images.path)))
    studies, quarantine = attach(structured, index, images.max_images)
    counts = {"studies_with_images": len(studies), "images": int(studies["images"].map(len).sum()),
              **{f"image_quarantine_{r}": int(n) for r, n in quarantine["reason"].value_counts().items()}}
    tracking.log_metrics(counts)
    print("images: " + ", ".join(f"{k}={v}" for k, v in counts.items()))
    return studies, quarantine
