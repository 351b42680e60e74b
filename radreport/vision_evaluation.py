"""Held-out evaluation of an image -> report adapter: generated reports split into regions by their headings, then
the metric suite overall and per region, beside the constant baseline and the untuned base model."""

import pandas as pd

from radreport.checkpoints import CheckpointSet
from radreport.config import EvalConfig
from radreport.baselines import CONSTANT, constant_output
from radreport.evaluation import BASE, Evaluation, metric_suite, score_systems
from radreport.structuring import parse_regions
from radreport.vision_training import generate_reports, load_vision_adapter


def evaluate_vision(checkpoints: CheckpointSet, records: pd.DataFrame, cfg: EvalConfig) -> Evaluation:
    held_out = records[records["split"] == cfg.split].head(cfg.max_examples)
    if held_out.empty:
        raise ValueError(f"no studies with images in the {cfg.split} split to evaluate on")
    step = checkpoints.steps[-1]
    system = f"step-{step}"
    references = held_out["output"].tolist()
    rows = held_out.to_dict("records")
    model, processor = load_vision_adapter(checkpoints, step)
    examples = held_out[["report_id", "images"]].assign(reference=references).reset_index(drop=True)
    examples[CONSTANT] = constant_output(records[records["split"] == "train"])
    with model.disable_adapter():
        examples[BASE] = generate_reports(model, processor, rows, cfg.max_new_tokens, cfg.batch_size)
    examples[system] = generate_reports(model, processor, rows, cfg.max_new_tokens, cfg.batch_size)
    suite = metric_suite(cfg)
    scores, regions = score_systems(suite, references, examples, [CONSTANT, BASE, system], parse_regions)
    return Evaluation(scores, regions, examples, step, cfg.select_metric, suite.notes)
