"""Score the baselines, the untuned base model and every checkpoint on held-out records; pick the best."""

from collections import Counter
from dataclasses import dataclass

import pandas as pd

from radreport import tracking
from radreport.baselines import BASELINES, baseline_outputs
from radreport.checkpoints import CheckpointSet
from radreport.config import EvalConfig
from radreport.generation import generate
from radreport.metrics import MetricSuite
from radreport.models import load_tokenizer, resolve_model
from radreport.paths import home
from radreport.retrieval import prompts_for
from radreport.structuring import structure

BASE = "base"


@dataclass
class Evaluation:
    scores: pd.DataFrame       # one row per system (baselines, base, step-N), one column per metric
    regions: pd.DataFrame      # system, region, n, metric columns ("absent" regions are left out)
    examples: pd.DataFrame     # per example: input, reference, each system's text and per-example scores
    best_step: int
    select_metric: str
    notes: list[str]           # what was skipped and why, metric conventions

    @property
    def best(self) -> dict:
        return self.scores.loc[f"step-{self.best_step}"].to_dict()

    @property
    def by_system(self) -> dict[str, dict]:
        """Corpus scores keyed by system: `model` (the best checkpoint), each baseline and `base`."""
        others = [s for s in self.scores.index if not s.startswith("step-")]
        return {"model": self.best, **self.scores.loc[others].to_dict(orient="index")}


def inference_model(checkpoints: CheckpointSet, step: int | None = None):
    """The untuned base model (step None), or the base with checkpoint `step`'s adapter merged in: generation
    costs what the base model costs. bf16 where the hardware computes it natively, else fp32 (see models)."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from radreport.models import load_for_inference

    model = load_for_inference(AutoModelForCausalLM, resolve_model(checkpoints.manifest["base_model"]))
    if step is None:
        return model
    return PeftModel.from_pretrained(model, checkpoints.adapter(step)).merge_and_unload()


def collapse(texts: list[str]) -> dict[str, float]:
    """How far a system has collapsed onto one text: distinct outputs, and the share equal to the most common."""
    counts = Counter(texts)
    return {"distinct_outputs": float(len(counts)), "top_output_share": counts.most_common(1)[0][1] / len(texts)}


def evaluate_checkpoints(checkpoints: CheckpointSet, records: pd.DataFrame, cfg: EvalConfig) -> Evaluation:
    held_out = records[records["split"] == cfg.split].head(cfg.max_examples)
    if held_out.empty:
        raise ValueError(f"no records in the {cfg.split} split to evaluate on")
    steps = checkpoints.steps[-cfg.last_k_checkpoints:] if cfg.last_k_checkpoints else checkpoints.steps
    prompts = prompts_for(checkpoints, held_out["instruction"].tolist(), held_out["input"].tolist())
    references = held_out["output"].tolist()
    suite = metric_suite(cfg)
    examples = held_out[["report_id", "input", "output"]].rename(columns={"output": "reference"}).reset_index(drop=True)
    for system, texts in baseline_outputs(records[records["split"] == "train"], examples["input"].tolist()).items():
        examples[system] = texts
    tokenizer = load_tokenizer(checkpoints.tokenizer)
    for step in [None, *steps]:
        system = BASE if step is None else f"step-{step}"
        examples[system] = generate(inference_model(checkpoints, step), tokenizer, prompts, cfg.batch_size,
                                    cfg.max_new_tokens, desc=system)
    scores, regions = score_systems(suite, references, examples, [*BASELINES, BASE] + [f"step-{s}" for s in steps])
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
        rows[system].update(collapse(examples[system].tolist()))
        examples[[f"{system}.{c}" for c in per_example.columns]] = per_example.values
        step = int(system.split("-")[1]) if system.startswith("step-") else None
        prefix = "eval_" if step is not None else f"eval_{system}_"
        tracking.log_metrics(rows[system], step=step, prefix=prefix)
        for region, scores in suite.by_region(references, examples[system].tolist(), split).items():
            if scores != "absent":
                region_rows.append({"system": system, "region": region, **scores})
                tracking.log_metrics(scores, step=step, prefix=f"{prefix}{region}_")
    return pd.DataFrame.from_dict(rows, orient="index"), pd.DataFrame(region_rows)
