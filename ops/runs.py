"""One run of the training DAG on the active ZenML stack, and what it produced, read back from its artifacts."""

from dataclasses import dataclass

import pandas as pd

from radreport.errors import RadreportError
from radreport.modality import IMAGE, of_config
from radreport.recipe import model_name_of
from radreport.training.backends import prepare_backend

SHOWN_METRICS = ("rougeL", "bleu4", "clinical_f1_micro", "abnormal_recall")


@dataclass
class RunSummary:
    name: str
    status: str
    seconds: float
    cached_steps: list[str]
    scores: pd.DataFrame        # the baselines and the selected checkpoint, the headline metrics
    best_step: int
    decision: dict              # promote_model's: model_name, version, alias, reason, already_registered


def import_backend_early(config) -> None:
    """Unsloth, when image training runs it in this process, before anything imports trl. Text training runs
    Unsloth in a child process (distributed.train), so this process never patches the models it evaluates."""
    if of_config(config) is IMAGE:
        prepare_backend(config.train.backend)


def run_pipeline(config, schedule=None, zenml_config: str | None = None):
    """The training pipeline on the configured data (a ZenML pipeline run), or, given a ZenML Schedule, its
    registration on an orchestrator that runs schedules."""
    from radreport.ingest import source_fingerprint
    from radreport.paths import exports
    from radreport.registry.names import inside

    model_name = model_name_of(config)
    import_backend_early(config)
    from zenml import Model

    from ops.stack import bootstrap
    from pipelines.training import training_pipeline
    from pipelines.vision import vision_pipeline

    bootstrap()
    # The ZenML Model Control Plane mirrors the MLflow registry: one model version per run, staged by the gate.
    pipeline = (vision_pipeline if of_config(config) is IMAGE else training_pipeline).with_options(
        model=Model(name=model_name, description="radreport LoRA adapter"), schedule=schedule, config_path=zenml_config)
    try:
        return pipeline(config, source_fingerprint(config.data.path), model_name, str(inside(exports(), model_name)))
    except RuntimeError as err:  # ZenML's "Pipeline run has failed": say which step and why, in one line
        raise PipelineFailed(failure_of_last_run() or str(err)) from err


def run_preference(config, zenml_config: str | None = None):
    """The preference pipeline: the champion of this config's model, tuned on preferences and gated as any run."""
    from radreport.ingest import source_fingerprint

    if config.preference is None:
        raise RadreportError("run.py prefer needs a `preference:` section in the config (see "
                             "configs/iu_xray_preference.yaml)")
    if of_config(config) is IMAGE:
        raise RadreportError("run.py prefer takes text configs: preference tuning of the image model is not built")
    model_name = model_name_of(config)
    from zenml import Model

    from ops.stack import bootstrap
    from pipelines.preference import preference_pipeline

    bootstrap()
    champion = champion_to_start_from(model_name)
    pipeline = preference_pipeline.with_options(model=Model(name=model_name, description="radreport LoRA adapter"),
                                                config_path=zenml_config)
    try:
        return pipeline(config, source_fingerprint(config.data.path), model_name, champion)
    except RuntimeError as err:
        raise PipelineFailed(failure_of_last_run() or str(err)) from err


def champion_to_start_from(model_name: str) -> int:
    """The champion's version now: the run starts from it even if the alias moves meanwhile."""
    from mlflow.exceptions import MlflowException

    from ops.stack import registry_client
    from radreport.registry.history import real_champion

    try:
        champion = real_champion(registry_client(), model_name)
    except MlflowException:  # no such registered model
        champion = None
    if champion is None:
        raise RadreportError(f"{model_name}: no champion to start from; run `python run.py run` with this config first")
    return champion


class PipelineFailed(RadreportError):
    """A step of the pipeline run failed; the message names the step and its error."""


def failure_of_last_run() -> str | None:
    """'pipeline run NAME failed in STEP: the error's last line', from the newest run's failed steps."""
    from zenml.client import Client
    from zenml.enums import ExecutionStatus

    runs = Client().list_pipeline_runs(sort_by="desc:created", size=1)
    if not runs.items:
        return None
    run = Client().get_pipeline_run(runs.items[0].id)
    failed = [(name, s) for name, s in run.steps.items() if s.status == ExecutionStatus.FAILED]
    if not failed:
        return None
    name, step = failed[0]
    lines = [line for line in (step.exception_info.traceback if step.exception_info else "").splitlines() if line]
    return f"pipeline run {run.name} failed in {name}: {lines[-1] if lines else 'see the step log'}"


def summarize(run, seconds: float) -> RunSummary:
    from zenml.client import Client
    from zenml.enums import ExecutionStatus

    run = Client().get_pipeline_run(run.id)
    evaluation = run.steps["evaluate_checkpoints"].outputs["evaluation"][0].load()  # every DAG's name for it
    table = evaluation.shown()
    return RunSummary(run.name, run.status.value, seconds,
                      [name for name, s in run.steps.items() if s.status == ExecutionStatus.CACHED],
                      table[[m for m in SHOWN_METRICS if m in table.columns]], evaluation.best_step,
                      run.steps["promote_model"].outputs["promotion_decision"][0].load())
