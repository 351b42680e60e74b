"""Scheduled retraining: crontab entries installed once, systemd timers, a lock runs cannot share, an early exit when
the data is unchanged, and a failed run that leaves the champion where it was."""

import json
import os
import shutil
import subprocess
import time

import pytest
import yaml
from mlflow import MlflowClient

from radreport.schedule import (AlreadyRunning, RetrainState, entries, on_calendar, run_lock, systemd_units,
                                with_entry, without_entry)
from run import main

MODEL = "radreport-retrain-test"


def test_crontab_entries_are_idempotent_and_removable():
    mine = "0 2 * * 0 echo retrain # radreport-retrain:weekly"
    crontab = "MAILTO=ops@example.org\n5 * * * * backup.sh\n"
    once = with_entry(crontab, "weekly", "0 2 * * 0", "echo retrain")
    assert with_entry(once, "weekly", "0 2 * * 0", "echo retrain") == once and mine in once
    moved = with_entry(once, "weekly", "0 3 * * 0", "echo retrain")
    assert entries(moved) == {"weekly": "0 3 * * 0 echo retrain # radreport-retrain:weekly"}
    assert without_entry(moved, "weekly") == crontab
    with pytest.raises(SystemExit, match="needs 5 fields"):
        with_entry(crontab, "weekly", "0 2 * *", "echo")


@pytest.mark.parametrize("cron, calendar", [("0 2 * * 0", "Sun *-*-* 02:00:00"), ("*/15 * * * *", "*-*-* *:00/15:00"),
                                            ("30 6 1 */3 1-5", "Mon..Fri *-01/3-01 06:30:00")])
def test_cron_becomes_a_systemd_calendar(cron, calendar):
    assert on_calendar(cron) == calendar
    units = systemd_units("weekly", cron, "echo retrain")
    assert f"OnCalendar={calendar}" in units["radreport-retrain-weekly.timer"]
    if shutil.which("systemd-analyze"):  # systemd's own parser accepts it
        subprocess.run(["systemd-analyze", "calendar", calendar], check=True, capture_output=True)


def test_runs_never_overlap_and_stale_locks_are_taken_over(tmp_path):
    lock = tmp_path / "weekly.lock"
    with run_lock(lock, stale_after_s=3600):
        with pytest.raises(AlreadyRunning, match="runs never overlap"):
            with run_lock(lock, stale_after_s=3600):
                pass
    assert not lock.exists()
    dead = subprocess.Popen(["true"])
    dead.wait()
    lock.write_text(json.dumps({"pid": dead.pid, "started": time.time(), "host": os.uname().nodename}))
    with run_lock(lock, stale_after_s=3600):  # its process is gone
        assert json.loads(lock.read_text())["pid"] == os.getpid()
    lock.write_text(json.dumps({"pid": os.getpid(), "started": time.time() - 7200, "host": "elsewhere"}))
    with run_lock(lock, stale_after_s=3600):  # hung for two hours
        pass


def registry():
    from ops.stack import tracking_uri

    return MlflowClient(tracking_uri=tracking_uri(), registry_uri=tracking_uri())


def test_retrain_skips_unchanged_data_and_a_failed_run_leaves_the_champion(stack, tiny_model, sample_path, tmp_path,
                                                                           capsys):
    from radreport.paths import home

    data = tmp_path / "reports.jsonl"
    shutil.copy(sample_path, data)
    config = tmp_path / "weekly.yaml"
    settings = {"train": {"model": str(tiny_model), "max_steps": 2, "save_steps": 2, "batch_size": 4},
                "eval": {"max_examples": 4, "max_new_tokens": 4}, "human_eval": {"cases": 4},
                "promotion": {"model_name": MODEL, "floors": {"rougeL": 0.0}, "beat_baselines": []}}
    config.write_text(yaml.safe_dump(settings))
    main(["retrain", "--config", str(config), "--data", str(data)])
    assert registry().get_registered_model(MODEL).aliases == {"champion": 1}
    capsys.readouterr()

    main(["retrain", "--config", str(config), "--data", str(data)])
    assert "no new data" in capsys.readouterr().out

    with open(data, "a") as reports:  # new reports arrive, and training breaks
        reports.write(json.dumps({"report_id": "NEW-1", "findings": "Small left effusion.",
                                  "impression": "Small left effusion."}) + "\n")
    config.write_text(yaml.safe_dump({**settings, "train": {**settings["train"], "model": str(tmp_path / "gone")}}))
    with pytest.raises(SystemExit, match="failed, champion untouched"):
        main(["retrain", "--config", str(config), "--data", str(data)])
    assert registry().get_registered_model(MODEL).aliases == {"champion": 1}
    log = [json.loads(line) for line in RetrainState(home() / "schedule", "weekly").log_path.read_text().splitlines()]
    assert [e["status"] for e in log] == ["succeeded", "skipped", "failed"] and "gone" in log[-1]["error"]
    assert not (home() / "schedule" / "weekly.lock").exists()


def test_schedule_installs_once_lists_and_removes(stack, tmp_path, capsys):
    from radreport.paths import home

    name = f"radreport-test-{os.getpid()}"
    for _ in range(2):
        main(["schedule", "--cron", "0 2 * * 0", "--config", "configs/demo.yaml", "--name", name])
    if shutil.which("crontab"):
        installed = entries(subprocess.run(["crontab", "-l"], capture_output=True, text=True).stdout)
        assert list(installed).count(name) == 1
        assert installed[name].startswith("0 2 * * 0 cd ") and f"retrain --name {name}" in installed[name]
    else:
        assert (home() / "schedule" / "systemd" / f"radreport-retrain-{name}.timer").exists()
    capsys.readouterr()
    main(["schedule", "--list"])
    assert name in capsys.readouterr().out
    main(["schedule", "--remove", "--name", name, "--config", "configs/demo.yaml"])
    capsys.readouterr()
    main(["schedule", "--list"])
    assert name not in capsys.readouterr().out
