"""Held-out evaluation of an image -> report adapter: generated reports split into regions by their headings, then
the metric suite overall and per region, beside the constant baseline and the untuned base model."""

import pandas as pd

from radreport.config import EvalConfig
from radreport.evaluation.baselines import CONSTANT, constant_output
from radreport.evaluation.checkpoints import held_out_records, metric_suite, score_systems, write_all
from radreport.evaluation.result import Evaluation
from radreport.evaluation.systems import BASE, system_of_step
from radreport.structuring import parse_regions
from radreport.training.checkpoints import CheckpointSet


def evaluate_vision(checkpoints: CheckpointSet, records: pd.DataFrame, cfg: EvalConfig) -> Evaluation:
    held_out = held_out_records(records, cfg)
    step = checkpoints.steps[-1]  # image training keeps one checkpoint: the one with the lowest validation loss
    examples = held_out[["report_id", "images", "output"]].rename(columns={"output": "reference"})
    examples = examples.reset_index(drop=True)
    examples[CONSTANT] = constant_output(records[records["split"] == "train"])
    for system, texts in write_all(checkpoints, [None, step], held_out.to_dict("records"), cfg).items():
        examples[system] = texts
    suite = metric_suite(cfg)
    scores, regions = score_systems(suite, examples["reference"].tolist(), examples,
                                    [CONSTANT, BASE, system_of_step(step)], parse_regions)
    return Evaluation(scores, regions, examples, step, cfg.select_metric, suite.notes)
