from pathlib import Path
from typing import Annotated

import pandas as pd
from zenml import step

from ops.lineage import link_runs
from ops.stack import TRACKER
from radreport.checkpoints import CheckpointSet
from radreport.config import EvalConfig, HumanEvalConfig
from radreport.evaluation import inference_model
from radreport.generation import generate
from radreport.human_eval import blinded_packet, sample_cases
from radreport.models import load_tokenizer
from radreport.rater_form import publish_packet
from radreport.retrieval import prompts_for


@step(experiment_tracker=TRACKER)
def export_human_eval(checkpoints: CheckpointSet, best_step: int, records: pd.DataFrame, human_eval: HumanEvalConfig,
                      eval_config: EvalConfig, export_dir: str) -> tuple[
    Annotated[pd.DataFrame, "rater_sheet"], Annotated[pd.DataFrame, "unblinding_key"]
]:
    """Blinded rater sheet (model vs radiologist in random order) from the test split.

    The packet (CSV, XLSX, offline HTML form) is written to `export_dir` for raters and logged to MLflow
    (human_eval/packet); the key never sits beside it (ZenML and MLflow artifacts only). Cases are stratified by
    findings length and normal/abnormal reference.
    """
    link_runs()
    cases = sample_cases(records, "test", human_eval.cases, human_eval.seed)
    model, tokenizer = inference_model(checkpoints, best_step), load_tokenizer(checkpoints.tokenizer)
    prompts = prompts_for(checkpoints, cases["instruction"].tolist(), cases["input"].tolist())
    generated = generate(model, tokenizer, prompts, eval_config.batch_size, eval_config.max_new_tokens, desc="rater cases")
    sheet, key = blinded_packet(pd.DataFrame({"report_id": cases["report_id"].values, "findings": cases["input"].values,
                                              "radiologist": cases["output"].values, "model": generated}), human_eval.seed)
    publish_packet(sheet, key, Path(export_dir))
    return sheet, key
