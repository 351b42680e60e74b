from pathlib import Path
from typing import Annotated

import pandas as pd
from zenml import step

from ops.lineage import link_runs
from ops.stack import TRACKER
from radreport.checkpoints import CheckpointSet
from radreport.config import EvalConfig, HumanEvalConfig
from radreport.human_eval import blinded_packet, sample_cases
from radreport.rater_form import publish_packet
from radreport.vision_training import generate_reports, load_vision_adapter


@step(experiment_tracker=TRACKER)
def export_vision_human_eval(checkpoints: CheckpointSet, best_step: int, records: pd.DataFrame,
                             human_eval: HumanEvalConfig, eval_config: EvalConfig, export_dir: str) -> tuple[
    Annotated[pd.DataFrame, "rater_sheet"], Annotated[pd.DataFrame, "unblinding_key"]
]:
    """Blinded rater packet for the image model: per test-split study its images (copied under the case id) and two
    region-structured reports, the radiologist's and the model's, in random order. Cases are stratified by report
    length and normal/abnormal reference; written to `export_dir` and MLflow, the key to MLflow only."""
    link_runs()
    cases = sample_cases(records, "test", human_eval.cases, human_eval.seed, length_of="output")
    model, processor = load_vision_adapter(checkpoints, best_step)
    generated = generate_reports(model, processor, cases.to_dict("records"), eval_config.max_new_tokens,
                                 eval_config.batch_size)
    sheet, key = blinded_packet(pd.DataFrame({"report_id": cases["report_id"].values, "images": cases["images"].values,
                                              "radiologist": cases["output"].values, "model": generated}), human_eval.seed)
    publish_packet(sheet, key, Path(export_dir))
    return sheet, key
