"""The image -> region-structured report DAG: ingest -> structure -> attach images -> format -> train -> evaluate
-> (human eval, promote)."""

from zenml import pipeline

from radreport.config import VisionPipelineConfig
from radreport.structuring.schemes import schemes_digest
from steps.attach_images import attach_images
from steps.evaluate_checkpoints import evaluate_checkpoints
from steps.export_human_eval import export_human_eval
from steps.format_conversations import format_conversations
from steps.ingest_reports import ingest_reports
from steps.promote_model import promote_model
from steps.structure_findings import structure_findings
from steps.train_vision import train_vision


@pipeline(name="radreport_vision")
def vision_pipeline(config: VisionPipelineConfig, source_fingerprint: str, model_name: str, export_dir: str) -> None:
    ingested, data_fingerprint = ingest_reports(config.data, source_fingerprint)
    structured, _summary = structure_findings(ingested, config.structuring, schemes_digest())
    studies, _image_quarantine = attach_images(structured, config.images, config.data.path)
    records = format_conversations(studies, config.train.prompt)
    checkpoints = train_vision(records, config.train)
    evaluation, _report = evaluate_checkpoints(checkpoints, records, config.eval)
    export_human_eval(checkpoints, evaluation, records, config.human_eval, config.eval, export_dir)
    promote_model(checkpoints, evaluation, data_fingerprint, config.promotion, model_name, config.model_dump())
