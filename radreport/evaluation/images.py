"""Held-out evaluation of an image -> report run: generated reports split into regions by their headings, then the
metric suite overall and per region, for every checkpoint beside the constant baseline and the untuned base model;
the best checkpoint is chosen as for text (`checkpoints.chosen`), into the same Evaluation."""

import pandas as pd

from radreport.config import EvalConfig
from radreport.evaluation.baselines import CONSTANT, constant_output
from radreport.evaluation.checkpoints import (checked_suite, chosen, held_out_records, report_modalities, score_systems,
                                              scored_steps, write_all)
from radreport.evaluation.result import Evaluation
from radreport.evaluation.systems import BASE, system_of_step
from radreport.structuring import parse_regions
from radreport.training.checkpoints import CheckpointSet


def evaluate_images(checkpoints: CheckpointSet, records: pd.DataFrame, cfg: EvalConfig) -> Evaluation:
    held_out = held_out_records(records, cfg)
    suite = checked_suite(cfg, set(report_modalities(held_out)))
    steps = scored_steps(checkpoints, cfg)
    examples = held_out[["report_id", "images", "output"]].rename(columns={"output": "reference"})
    examples = examples.reset_index(drop=True)
    examples[CONSTANT] = constant_output(records[records["split"] == "train"])
    for system, texts in write_all(checkpoints, [None, *steps], held_out.to_dict("records"), cfg).items():
        examples[system] = texts
    scores, regions = score_systems(suite, examples["reference"].tolist(), examples,
                                    [CONSTANT, BASE, *map(system_of_step, steps)], parse_regions)
    return chosen(scores, regions, examples, cfg, suite)
