import hashlib
import tempfile
from pathlib import Path
from typing import Annotated

import pandas as pd
from zenml import step

from materializers.checkpoints import CheckpointSetMaterializer
from ops.lineage import link_runs
from radreport import tracking
from radreport.config import PreferenceConfig, TrainConfig
from radreport.preference.train import train_preference as train
from radreport.training.checkpoints import CheckpointSet


@step(experiment_tracker=True, output_materializers=CheckpointSetMaterializer)
def train_preference(champion: CheckpointSet, pairs: pd.DataFrame, rated: pd.DataFrame, counts: dict,
                     preference: PreferenceConfig, train_config: TrainConfig,
                     champion_version: int) -> Annotated[CheckpointSet, "checkpoints"]:
    """DPO or KTO on the champion's adapter, the champion as reference; every checkpoint's adapter is kept."""
    link_runs()
    tracking.log_params(preference.model_dump(exclude={"ratings"}), prefix="preference.")
    lineage = {"started_from_version": champion_version, "source": preference.source, "pairs": len(pairs),
               "kto_examples": 2 * len(pairs) + len(rated) if preference.method == "kto" else 0,
               "pairs_sha256": counts["pairs_sha256"], "ratings_sha256": ratings_digest(preference.ratings)}
    checkpoints = train(champion, pairs, rated, preference, train_config,
                        Path(tempfile.mkdtemp(prefix="radreport-prefer-")) / "checkpoints", lineage)
    tracking.log_artifact(checkpoints.path, "checkpoints")
    summary = checkpoints.manifest["summary"]
    print(f"prefer ({preference.method}): {summary['global_step']} steps in {summary['train_seconds']} s on "
          f"{summary['train_examples']} examples, final loss {summary['final_train_loss']:.4f}, "
          f"checkpoints at {checkpoints.steps}")
    return checkpoints


def ratings_digest(paths: list[str]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()[:16] if paths else "none"
