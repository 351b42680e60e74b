from pathlib import Path
from typing import Annotated

import pandas as pd
from zenml import step

from ops.lineage import link_runs
from radreport.config import EvalConfig, HumanEvalConfig
from radreport.evaluation.result import Evaluation
from radreport.human_eval.form import publish_packet
from radreport.human_eval.ratings import blinded_packet, sample_cases
from radreport.modality import load_adapter, of_manifest
from radreport.training.checkpoints import CheckpointSet


@step(experiment_tracker=True)
def export_human_eval(checkpoints: CheckpointSet, evaluation: Evaluation, records: pd.DataFrame,
                      human_eval: HumanEvalConfig, eval_config: EvalConfig, export_dir: str) -> tuple[
    Annotated[pd.DataFrame, "rater_sheet"], Annotated[pd.DataFrame, "unblinding_key"]
]:
    """Blinded rater packet from `human_eval.split` (test by default): per case the input (findings, or the study's
    images, copied under the case id) and two texts, the radiologist's and the best checkpoint's, in random order.

    The packet (CSV, XLSX, offline HTML form) is written to `export_dir` for raters and logged to MLflow
    (human_eval/packet); the key never sits beside it (ZenML and MLflow artifacts only). Cases are stratified by
    input length (report length for images) and normal/abnormal reference.
    """
    link_runs()
    modality = of_manifest(checkpoints.manifest)
    cases = sample_cases(records, human_eval.split, human_eval.cases, human_eval.seed,
                         length_of="output" if modality.takes_images else "input")
    adapter = load_adapter(checkpoints, evaluation.best_step)
    generated = adapter.generate(cases.to_dict("records"), eval_config.batch_size, eval_config.max_new_tokens,
                                 "rater cases")
    shown = cases["images"] if modality.takes_images else cases["input"]
    sheet, key = blinded_packet(pd.DataFrame({"report_id": cases["report_id"].values, modality.input_field: shown.values,
                                              "radiologist": cases["output"].values, "model": generated}), human_eval.seed)
    publish_packet(sheet, key, Path(export_dir))
    return sheet, key
