"""Quiet console output: the known noise of the libraries below (datasets' map bars, deprecation and future
warnings, MLflow's autologging line for libraries not installed, transformers' advisories) is kept out of the
terminal; `--verbose` leaves everything as the libraries print it."""

import logging
import os
import warnings


class DropMessages(logging.Filter):
    def __init__(self, *fragments: str):
        super().__init__()
        self.fragments = fragments

    def filter(self, record: logging.LogRecord) -> bool:
        return not any(f in record.getMessage() for f in self.fragments)


def quiet() -> None:
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # transformers' "Loading weights" bars read this
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    for category in (FutureWarning, DeprecationWarning, UserWarning):
        warnings.filterwarnings("ignore", category=category)
    os.environ.setdefault("PYTHONWARNINGS", "ignore::FutureWarning,ignore::DeprecationWarning,ignore::UserWarning")
    autolog = DropMessages("Failed to disable MLflow autologging", "autologging")
    # a filter on a logger sees only that logger's own records, so each emitting module is named
    tracker = "zenml.integrations.mlflow.experiment_trackers.mlflow_experiment_tracker"
    for name in ("mlflow", "mlflow.utils.autologging_utils", tracker):
        logging.getLogger(name).addFilter(autolog)
