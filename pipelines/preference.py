"""The preference DAG: champion -> sampled texts -> judged pairs / ratings -> DPO/KTO -> evaluate -> promote (the
same evaluation, baselines and gate as the training DAG)."""

from zenml import pipeline

from radreport.config import PipelineConfig
from radreport.structuring.schemes import schemes_digest
from steps.collect_preferences import collect_preferences
from steps.evaluate_checkpoints import evaluate_checkpoints
from steps.format_alpaca import format_alpaca
from steps.ingest_reports import ingest_reports
from steps.load_champion import load_champion
from steps.promote_model import promote_model
from steps.sample_candidates import sample_candidates
from steps.structure_findings import structure_findings
from steps.train_preference import train_preference


@pipeline(name="radreport_preference")
def preference_pipeline(config: PipelineConfig, source_fingerprint: str, model_name: str, champion_version: int) -> None:
    ingested, data_fingerprint = ingest_reports(config.data, source_fingerprint)
    structured, _summary = structure_findings(ingested, config.structuring, schemes_digest())
    records = format_alpaca(structured, config.format)
    champion = load_champion(model_name, champion_version)
    preference = config.preference
    candidates = sample_candidates(champion, records, preference.sampling()) \
        if preference.source in ("judge", "both") else None
    pairs, rated, counts = collect_preferences(champion, candidates, records, preference, model_name,
                                               preference.rated_version or champion_version)
    checkpoints = train_preference(champion, pairs, rated, counts, preference, config.train, champion_version)
    evaluation, _report = evaluate_checkpoints(checkpoints, records, config.eval)
    promote_model(checkpoints, evaluation, data_fingerprint, config.promotion, model_name, config.model_dump())
