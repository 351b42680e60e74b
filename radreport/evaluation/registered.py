"""A registered version evaluated again, on any split of any data: the same systems as in the pipeline."""

import tempfile
from pathlib import Path

from radreport.evaluation.checkpoints import evaluate_checkpoints
from radreport.evaluation.result import Evaluation
from radreport.recipe import instruction_records
from radreport.registry.store import download_checkpoint


def evaluate_version(client, name: str, version: int, config, split: str, max_examples: int) -> Evaluation:
    eval_config = config.eval.model_copy(update={"split": split, "max_examples": max_examples})
    records = instruction_records(config)
    with tempfile.TemporaryDirectory() as tmp:
        checkpoints = download_checkpoint(client, name, version, Path(tmp) / "checkpoint")
        return evaluate_checkpoints(checkpoints, records, eval_config)
