"""Score the baselines, the untuned base model and every checkpoint on held-out records; pick the best."""

import json
from collections import Counter

import pandas as pd

from radreport import tracking
from radreport.config import EvalConfig
from radreport.evaluation.baselines import BASELINES, baseline_outputs
from radreport.evaluation.result import Evaluation, best_checkpoint
from radreport.evaluation.systems import BASE, is_checkpoint, step_of_system, system_of_step
from radreport.metrics import MetricSuite
from radreport.modality import load_adapter
from radreport.paths import home
from radreport.errors import RadreportError
from radreport.structuring import structure
from radreport.structuring.schemes import Scheme, scheme_for
from radreport.training.checkpoints import CheckpointSet


def collapse(texts: list[str]) -> dict[str, float]:
    """How far a system has collapsed onto one text: distinct outputs, and the share equal to the most common."""
    counts = Counter(texts)
    return {"distinct_outputs": float(len(counts)), "top_output_share": counts.most_common(1)[0][1] / len(texts)}


def held_out_records(records: pd.DataFrame, cfg: EvalConfig) -> pd.DataFrame:
    held_out = records[records["split"] == cfg.split].head(cfg.max_examples)
    if held_out.empty:
        raise ValueError(f"no records in the {cfg.split} split to evaluate on")
    return held_out


def write_all(checkpoints: CheckpointSet, steps: list[int | None], rows: list[dict], cfg: EvalConfig) -> dict:
    """{system: texts} for each step (None: the untuned base model), one model in memory at a time."""
    texts = {}
    for step in steps:
        system = BASE if step is None else system_of_step(step)
        texts[system] = load_adapter(checkpoints, step).generate(rows, cfg.batch_size, cfg.max_new_tokens, system)
    return texts


def scored_steps(checkpoints: CheckpointSet, cfg: EvalConfig) -> list[int]:
    return checkpoints.steps[-cfg.last_k_checkpoints:] if cfg.last_k_checkpoints else checkpoints.steps


def report_modalities(held_out: pd.DataFrame) -> list[str]:
    """Each held-out report's imaging modality (chest X-ray where the records name none, as image records do)."""
    return held_out["modality"].tolist() if "modality" in held_out else ["chest_xray"] * len(held_out)


def checked_suite(cfg: EvalConfig, modalities: set[str]) -> MetricSuite:
    """The metric suite for reports of these modalities; a select_metric that does not apply to them is refused
    before any model writes, text or images."""
    suite = metric_suite(cfg, modalities)
    if cfg.select_metric in suite.not_applicable:
        raise RadreportError(f"eval.select_metric {cfg.select_metric} does not apply to these reports: "
                             f"{suite.not_applicable_note}")
    return suite


def chosen(scores: pd.DataFrame, regions: pd.DataFrame, examples: pd.DataFrame, cfg: EvalConfig,
           suite: MetricSuite) -> Evaluation:
    """The Evaluation with the best checkpoint by select_metric, whose scores are logged as best_*."""
    best_step = best_checkpoint(scores, cfg.select_metric)
    tracking.log_metrics({"best_step": best_step, **{f"best_{k}": v for k, v in scores.loc[system_of_step(best_step)].items()}})
    return Evaluation(scores, regions, examples, best_step, cfg.select_metric, suite.notes, list(suite.not_applicable))


def evaluate_checkpoints(checkpoints: CheckpointSet, records: pd.DataFrame, cfg: EvalConfig) -> Evaluation:
    held_out = held_out_records(records, cfg)
    modalities = report_modalities(held_out)
    suite = checked_suite(cfg, set(modalities))
    steps = scored_steps(checkpoints, cfg)
    examples = held_out[["report_id", "input", "output"]].rename(columns={"output": "reference"}).reset_index(drop=True)
    for system, texts in baseline_outputs(records[records["split"] == "train"], examples["input"].tolist()).items():
        examples[system] = texts
    for system, texts in write_all(checkpoints, [None, *steps], held_out.to_dict("records"), cfg).items():
        examples[system] = texts
    systems = [*BASELINES, BASE, *map(system_of_step, steps)]
    splits = [region_splitter(checkpoints.manifest["task"], scheme_for(m)) for m in modalities]
    scores, regions = score_systems(suite, examples["reference"].tolist(), examples, systems, splits)
    return chosen(scores, regions, examples, cfg, suite)


def region_splitter(task: str, scheme: Scheme):
    """How a task's texts divide into the scheme's regions: region-headed reports by their headings, region JSON by
    its keys (text that is not such JSON, sentence by sentence), anything else sentence by sentence."""
    if task == "findings_to_structured":
        return scheme.parse_regions
    if task != "findings_to_region_json":
        return scheme.structure

    def from_json(text: str) -> dict[str, list[str]]:
        try:
            answer = json.loads(text)
        except ValueError:
            return scheme.structure(text)
        if not isinstance(answer, dict) or set(answer) != set(scheme.regions):
            return scheme.structure(text)
        return {r: [s for s in answer[r] if isinstance(s, str)] if isinstance(answer[r], list) else []
                for r in scheme.regions}

    return from_json


def metric_suite(cfg: EvalConfig, modalities=("chest_xray",)) -> MetricSuite:
    return MetricSuite(cfg.metrics, cfg.bertscore_model, cfg.bertscore_layers, cfg.bertscore_baseline,
                       cfg.clinical_uncertain_as, cfg.green,
                       str(home() / "cache" / "bertscore.sqlite") if cfg.bertscore_cache else None, modalities)


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
        step = step_of_system(system) if is_checkpoint(system) else None
        prefix = "eval_" if step is not None else f"eval_{system}_"
        tracking.log_metrics(rows[system], step=step, prefix=prefix)
        for region, scores in suite.by_region(references, examples[system].tolist(), split).items():
            if scores != "absent":
                region_rows.append({"system": system, "region": region, **scores})
                tracking.log_metrics(scores, step=step, prefix=f"{prefix}{region}_")
    return pd.DataFrame.from_dict(rows, orient="index"), pd.DataFrame(region_rows)
