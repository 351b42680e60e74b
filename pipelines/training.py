"""The training DAG: ingest -> structure -> format -> train -> evaluate -> (human eval, promote)."""

from zenml import pipeline

from radreport.config import PipelineConfig
from radreport.structuring.schemes import schemes_digest
from steps.evaluate_checkpoints import evaluate_checkpoints
from steps.export_human_eval import export_human_eval
from steps.format_alpaca import format_alpaca
from steps.ingest_reports import ingest_reports
from steps.promote_model import promote_model
from steps.structure_findings import structure_findings
from steps.train_lora import train_lora


@pipeline(name="radreport_training")
def training_pipeline(config: PipelineConfig, source_fingerprint: str, model_name: str, export_dir: str) -> None:
    ingested, data_fingerprint = ingest_reports(config.data, source_fingerprint)
    structured, _summary = structure_findings(ingested, config.structuring, schemes_digest())
    records = format_alpaca(structured, config.format)
    checkpoints = train_lora(records, config.train, config.format.task)
    evaluation, _report = evaluate_checkpoints(checkpoints, records, config.eval)
    export_human_eval(checkpoints, evaluation, records, config.human_eval, config.eval, export_dir)
    promote_model(checkpoints, evaluation, data_fingerprint, config.promotion, model_name, config.model_dump())
