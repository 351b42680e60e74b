"""Held-out evaluation of an image -> report adapter: generated reports split into regions by their headings, then
the metric suite overall and per region, beside a trivial baseline and the untuned base model."""

import pandas as pd

from radreport import tracking
from radreport.checkpoints import CheckpointSet
from radreport.config import EvalConfig
from radreport.evaluation import BASE, TRIVIAL, Evaluation, bertscore_cache_path, trivial_baseline
from radreport.metrics import MetricSuite
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
    examples[TRIVIAL] = trivial_baseline(records)
    with model.disable_adapter():
        examples[BASE] = generate_reports(model, processor, rows, cfg.max_new_tokens, cfg.batch_size)
    examples[system] = generate_reports(model, processor, rows, cfg.max_new_tokens, cfg.batch_size)
    suite = MetricSuite(cfg.metrics, cfg.bertscore_model, cfg.bertscore_layers, cfg.bertscore_baseline,
                        cfg.clinical_uncertain_as, cfg.green, bertscore_cache_path(cfg))
    scores, region_rows = {}, []
    for name in (TRIVIAL, BASE, system):
        scores[name], per_example = suite.score(references, examples[name].tolist())
        examples[[f"{name}.{c}" for c in per_example.columns]] = per_example.values
        prefix = "eval_" if name == system else f"eval_{name}_"
        tracking.log_metrics(scores[name], step=step if name == system else None, prefix=prefix)
        for region, region_scores in suite.by_region(references, examples[name].tolist(), split=parse_regions).items():
            if region_scores != "absent":
                region_rows.append({"system": name, "region": region, **region_scores})
                tracking.log_metrics(region_scores, step=step if name == system else None, prefix=f"{prefix}{region}_")
    return Evaluation(pd.DataFrame.from_dict(scores, orient="index"), pd.DataFrame(region_rows), examples, step,
                      cfg.select_metric, suite.notes)
