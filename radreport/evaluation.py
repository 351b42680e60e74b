"""Score the untuned base model and every checkpoint on held-out records; pick the best."""

from dataclasses import dataclass

import pandas as pd

from radreport import tracking
from radreport.checkpoints import CheckpointSet
from radreport.formatting import prompt
from radreport.generation import generate
from radreport.metrics import corpus_metrics
from radreport.models import load_model, load_tokenizer, resolve_model

BASE = "base"


@dataclass
class Evaluation:
    scores: pd.DataFrame       # one row per system (base, step-N), one column per metric
    examples: pd.DataFrame     # per-example references and generations of every system
    best_step: int
    select_metric: str

    @property
    def best(self) -> dict:
        return self.scores.loc[f"step-{self.best_step}"].to_dict()

    @property
    def base(self) -> dict:
        return self.scores.loc[BASE].to_dict()


def load_adapters(checkpoints: CheckpointSet, steps: list[int]):
    """The base model with the given checkpoints' adapters loaded by name ('step-N'); the first is active."""
    from peft import PeftModel

    base = load_model(resolve_model(checkpoints.manifest["base_model"]))
    model = PeftModel.from_pretrained(base, checkpoints.adapter(steps[0]), adapter_name=f"step-{steps[0]}")
    for step in steps[1:]:
        model.load_adapter(checkpoints.adapter(step), adapter_name=f"step-{step}")
    return model, load_tokenizer(checkpoints.tokenizer)


def evaluate_checkpoints(checkpoints: CheckpointSet, records: pd.DataFrame, split: str, max_examples: int,
                         batch_size: int, max_new_tokens: int, select_metric: str) -> Evaluation:
    held_out = records[records["split"] == split].head(max_examples)
    if held_out.empty:
        raise ValueError(f"no records in the {split} split to evaluate on")
    prompts = [prompt(r.instruction, r.input) for r in held_out.itertuples(index=False)]
    references = held_out["output"].tolist()
    model, tokenizer = load_adapters(checkpoints, checkpoints.steps)
    examples = held_out[["report_id", "input", "output"]].rename(columns={"output": "reference"}).reset_index(drop=True)
    rows = {}
    with model.disable_adapter():
        examples[BASE] = generate(model, tokenizer, prompts, batch_size, max_new_tokens, desc="base model")
    rows[BASE] = corpus_metrics(references, examples[BASE].tolist())
    tracking.log_metrics(rows[BASE], prefix="eval_base_")
    for step in checkpoints.steps:
        name = f"step-{step}"
        model.set_adapter(name)
        examples[name] = generate(model, tokenizer, prompts, batch_size, max_new_tokens, desc=name)
        rows[name] = corpus_metrics(references, examples[name].tolist())
        tracking.log_metrics(rows[name], step=step, prefix="eval_")
    scores = pd.DataFrame.from_dict(rows, orient="index")
    best_step = int(scores.drop(index=BASE)[select_metric].idxmax().split("-")[1])
    tracking.log_metrics({"best_step": best_step, **{f"best_{k}": v for k, v in scores.loc[f"step-{best_step}"].items()}})
    return Evaluation(scores, examples, best_step, select_metric)
