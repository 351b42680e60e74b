"""Score the untuned base model, a trivial baseline and every checkpoint on held-out records; pick the best."""

from dataclasses import dataclass

import pandas as pd

from radreport import tracking
from radreport.checkpoints import CheckpointSet
from radreport.config import EvalConfig
from radreport.formatting import prompt
from radreport.generation import generate
from radreport.metrics import MetricSuite
from radreport.models import load_model, load_tokenizer, resolve_model
from radreport.paths import home
from radreport.structuring import structure

BASE, TRIVIAL = "base", "trivial"


@dataclass
class Evaluation:
    scores: pd.DataFrame       # one row per system (trivial, base, step-N), one column per metric
    regions: pd.DataFrame      # system, region, n, metric columns ("absent" regions are left out)
    examples: pd.DataFrame     # per example: input, reference, each system's text and per-example scores
    best_step: int
    select_metric: str
    notes: list[str]           # what was skipped and why, metric conventions

    @property
    def best(self) -> dict:
        return self.scores.loc[f"step-{self.best_step}"].to_dict()


def load_adapters(checkpoints: CheckpointSet, steps: list[int]):
    """The base model with the given checkpoints' adapters loaded by name ('step-N'); the first is active. For
    inference: on CPU the linear layers multiply in oneDNN."""
    from peft import PeftModel

    from radreport.onednn import use_onednn_linears

    base = load_model(resolve_model(checkpoints.manifest["base_model"]))
    model = PeftModel.from_pretrained(base, checkpoints.adapter(steps[0]), adapter_name=f"step-{steps[0]}")
    for step in steps[1:]:
        model.load_adapter(checkpoints.adapter(step), adapter_name=f"step-{step}")
    return use_onednn_linears(model), load_tokenizer(checkpoints.tokenizer)


def trivial_baseline(records: pd.DataFrame) -> str:
    """The most common training output: a model must beat saying this every time."""
    return records.loc[records["split"] == "train", "output"].mode().iloc[0]


def evaluate_checkpoints(checkpoints: CheckpointSet, records: pd.DataFrame, cfg: EvalConfig) -> Evaluation:
    held_out = records[records["split"] == cfg.split].head(cfg.max_examples)
    if held_out.empty:
        raise ValueError(f"no records in the {cfg.split} split to evaluate on")
    steps = checkpoints.steps[-cfg.last_k_checkpoints:] if cfg.last_k_checkpoints else checkpoints.steps
    prompts = [prompt(r.instruction, r.input) for r in held_out.itertuples(index=False)]
    references = held_out["output"].tolist()
    suite = metric_suite(cfg)
    model, tokenizer = load_adapters(checkpoints, steps)
    examples = held_out[["report_id", "input", "output"]].rename(columns={"output": "reference"}).reset_index(drop=True)
    examples[TRIVIAL] = trivial_baseline(records)
    with model.disable_adapter():
        examples[BASE] = generate(model, tokenizer, prompts, cfg.batch_size, cfg.max_new_tokens, desc="base model")
    for step in steps:
        model.set_adapter(f"step-{step}")
        examples[f"step-{step}"] = generate(model, tokenizer, prompts, cfg.batch_size, cfg.max_new_tokens,
                                            desc=f"step-{step}")
    scores, regions = score_systems(suite, references, examples, [TRIVIAL, BASE] + [f"step-{s}" for s in steps])
    best_step = int(scores.loc[[f"step-{s}" for s in steps], cfg.select_metric].idxmax().split("-")[1])
    tracking.log_metrics({"best_step": best_step, **{f"best_{k}": v for k, v in scores.loc[f"step-{best_step}"].items()}})
    return Evaluation(scores, regions, examples, best_step, cfg.select_metric, suite.notes)


def metric_suite(cfg: EvalConfig) -> MetricSuite:
    return MetricSuite(cfg.metrics, cfg.bertscore_model, cfg.bertscore_layers, cfg.bertscore_baseline,
                       cfg.clinical_uncertain_as, cfg.green,
                       str(home() / "cache" / "bertscore.sqlite") if cfg.bertscore_cache else None)


def score_systems(suite: MetricSuite, references: list[str], examples: pd.DataFrame, systems: list[str],
                  split=structure) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(scores per system, scores per system and region) for each system's texts in `examples`, whose per-example
    scores are added as '<system>.<metric>' columns; logged to MLflow, a checkpoint's with step= its step.
    `split` puts a text's sentences into regions (`parse_regions` for region-headed reports)."""
    rows, region_rows = {}, []
    for system in systems:
        rows[system], per_example = suite.score(references, examples[system].tolist())
        examples[[f"{system}.{c}" for c in per_example.columns]] = per_example.values
        step = int(system.split("-")[1]) if system.startswith("step-") else None
        prefix = "eval_" if step is not None else f"eval_{system}_"
        tracking.log_metrics(rows[system], step=step, prefix=prefix)
        for region, scores in suite.by_region(references, examples[system].tolist(), split).items():
            if scores != "absent":
                region_rows.append({"system": system, "region": region, **scores})
                tracking.log_metrics(scores, step=step, prefix=f"{prefix}{region}_")
    return pd.DataFrame.from_dict(rows, orient="index"), pd.DataFrame(region_rows)
