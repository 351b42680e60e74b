"""A pipeline config as a run uses it: its data path resolved (the synthetic sample when none is given), its
registered model's name, and its instruction records built in-process (for `train` and `evaluate` outside the DAG)."""

import re
from pathlib import Path

from radreport.config import load_config
from radreport.errors import RadreportError
from radreport.ingest.remote import is_remote
from radreport.ingest.sample_ct_mri import write_ct_mri_sample
from radreport.ingest.sample_data import write_sample
from radreport.paths import home


SAMPLES = {"chest_xray": ("synthetic_reports.jsonl", write_sample, "synthetic"),
           "ct_mri": ("synthetic_ct_mri.json", write_ct_mri_sample, "synthetic-ct-mri")}  # file, writer, dataset name


def synthetic_sample(kind: str = "chest_xray") -> Path:
    return home() / "data" / SAMPLES[kind][0]


def resolve(path: str, data: str | None):
    """The config at `path` with data.path resolved: the synthetic sample when none is given, a URL as it is (the
    ingest step reads it, wherever it runs), a local path made absolute."""
    config = load_config(path, data)
    if config.data.path is None:
        config.data.path = str(SAMPLES[config.data.sample][1](synthetic_sample(config.data.sample)))
    elif is_remote(config.data.path):
        return config
    elif not Path(config.data.path).exists():
        raise RadreportError(f"data {config.data.path}: no such file or folder")
    config.data.path = str(Path(config.data.path).resolve())
    return config


def default_model_name(task: str, data_path: str, sample: str | None) -> str:
    """radreport-<task>-<dataset>: the data file's name, or the synthetic sample's (`sample`: its kind)."""
    dataset = SAMPLES[sample][2] if sample else re.sub(r"[^a-z0-9]+", "-", Path(data_path).stem.lower()).strip("-")
    return f"radreport-{task.replace('_', '-')}-{dataset}"


def model_name_of(config) -> str:
    from radreport.modality import task_of

    sample = config.data.sample if config.data.path == str(synthetic_sample(config.data.sample)) else None
    return config.promotion.model_name or default_model_name(task_of(config), config.data.path, sample)


def instruction_records(config):
    """The pipeline's first three stages in one process: ingest, structure, format."""
    from radreport.formatting import alpaca_records
    from radreport.ingest import ingest
    from radreport.structuring.reports import structure_reports

    reports = ingest(config.data.path, config.data).reports
    return alpaca_records(structure_reports(reports, config.structuring)[0], config.format.task)[0]
