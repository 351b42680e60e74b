"""The scheduled job: train, evaluate and gate on the newest data unless neither it nor the config changed since the
last successful run; one run at a time (a kernel lock), every outcome on record, the registry's champion named after
a failure."""

import hashlib
import time
from dataclasses import dataclass

from ops.runs import RunSummary, import_backend_early, run_pipeline, run_preference, summarize
from radreport.errors import RadreportError
from radreport.ingest import source_fingerprint
from radreport.paths import home
from radreport.recipe import model_name_of
from radreport.schedule import RetrainState, run_lock


@dataclass
class RetrainOutcome:
    status: str                      # "skipped" or "succeeded" (a failure raises RetrainFailed)
    reason: str
    summary: RunSummary | None = None
    preference: RunSummary | None = None  # the preference run chained after SFT (preference.after_sft)


class RetrainFailed(RadreportError):
    """The run failed; the message says what the registry's champion is now."""


def champion_now(config) -> str:
    """The registry's real champion for this config's model, as words (for messages after a failure)."""
    from ops.stack import bootstrap, registry_client
    from radreport.registry.history import real_champion

    try:
        bootstrap()
        champion = real_champion(registry_client(), model_name_of(config))
    except Exception as err:  # noqa: BLE001 - a message about the registry must not raise itself
        return f"unknown ({type(err).__name__} reading the registry)"
    return f"v{champion}" if champion is not None else "none"


def retrain(config, name: str, stale_after_s: float, force: bool = False) -> RetrainOutcome:
    import_backend_early(config)  # before champion_now's bootstrap imports the ML libraries
    state = RetrainState(home() / "schedule", name)
    with run_lock(home() / "schedule" / f"{name}.lock", stale_after_s):
        fingerprint = source_fingerprint(config.data.path)
        config_digest = hashlib.sha256(config.model_dump_json().encode()).hexdigest()[:16]
        last = state.last_success()
        # a state written before config digests were kept counts as the same config once
        unchanged = last and last["data_fingerprint"] == fingerprint and \
            last.get("config_digest", config_digest) == config_digest
        if unchanged and not force:
            state.record("skipped", fingerprint, reason="no new data, same config", config_digest=config_digest)
            return RetrainOutcome("skipped", f"no new data in {config.data.path} and the same config since the last "
                                             f"successful run ({last['time']})")
        started, champion_before = time.perf_counter(), champion_now(config)
        try:
            run = run_pipeline(config)
        except Exception as err:
            reason = f"{type(err).__name__}: {err}"[:1000]
            champion_after = champion_now(config)
            state.record("failed", fingerprint, config_digest=config_digest, error=reason,
                         champion_before=champion_before, champion_after=champion_after)
            moved = "unchanged" if champion_after == champion_before else f"moved from {champion_before}"
            raise RetrainFailed(f"retrain {name}: failed ({reason}); the registry's champion is {champion_after} "
                                f"({moved}); log: {state.log_path}") from err
        summary = summarize(run, time.perf_counter() - started)
        decision = summary.decision
        state.record("succeeded", fingerprint, config_digest=config_digest, zenml_run_id=str(run.id),
                     model=decision["model_name"], version=decision["version"], alias=decision["alias"])
        preference = None
        if config.preference is not None and config.preference.after_sft:
            started = time.perf_counter()
            preference_run = run_preference(config)  # a failure raises after the SFT run's success is on record
            preference = summarize(preference_run, time.perf_counter() - started)
            state.record("succeeded", fingerprint, config_digest=config_digest, zenml_run_id=str(preference_run.id),
                         stage="preference", model=preference.decision["model_name"],
                         version=preference.decision["version"], alias=preference.decision["alias"])
        return RetrainOutcome("succeeded", "trained", summary, preference)
