"""Scheduled retraining: crontab entries installed once, systemd timers, a lock runs cannot share, an early exit when
the data is unchanged, and a failed run that leaves the champion where it was."""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient

from radreport.errors import RadreportError
from radreport.schedule import (AlreadyRunning, RetrainState, cron_command, entries, on_calendar, run_lock,
                                systemd_exec, systemd_units, with_entry, without_entry, write_wrapper)
from run import main

MODEL = "radreport-retrain-test"


@pytest.fixture(autouse=True)
def crontab_restored():
    """Every test leaves the user's real crontab as it found it (one test installs a schedule through it)."""
    crontab = shutil.which("crontab")
    before = subprocess.run([crontab, "-l"], capture_output=True, text=True) if crontab else None
    yield
    if not crontab or (before.returncode != 0 and "no crontab for " not in before.stderr):
        return  # nothing was readable, so nothing can be put back
    if subprocess.run([crontab, "-l"], capture_output=True, text=True).stdout == before.stdout:
        return
    if before.returncode == 0:
        subprocess.run([crontab, "-"], input=before.stdout, text=True, check=True)
    else:
        subprocess.run([crontab, "-r"], check=True)


def fake_crontab(tmp_path, monkeypatch, list_error: str) -> Path:
    """A `crontab` first on PATH whose `-l` fails with `list_error`; returns the file a write would go to."""
    folder, written = tmp_path / "bin", tmp_path / "written-crontab"
    folder.mkdir(exist_ok=True)
    (folder / "crontab").write_text(f'#!/bin/sh\nif [ "$1" = -l ]; then echo {shlex.quote(list_error)} >&2; exit 1; '
                                    f"fi\ncat > {shlex.quote(str(written))}\n")
    (folder / "crontab").chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}:{os.environ['PATH']}")
    return written


def test_crontab_entries_are_idempotent_and_removable():
    mine = "0 2 * * 0 echo retrain # radreport-retrain:weekly"
    crontab = "MAILTO=ops@example.org\n5 * * * * backup.sh\n"
    once = with_entry(crontab, "weekly", "0 2 * * 0", "echo retrain")
    assert with_entry(once, "weekly", "0 2 * * 0", "echo retrain") == once and mine in once
    moved = with_entry(once, "weekly", "0 3 * * 0", "echo retrain")
    assert entries(moved) == {"weekly": "0 3 * * 0 echo retrain # radreport-retrain:weekly"}
    assert without_entry(moved, "weekly") == crontab
    with pytest.raises(RadreportError, match="needs 5 fields"):
        with_entry(crontab, "weekly", "0 2 * *", "echo")


@pytest.mark.parametrize("cron, calendar", [("0 2 * * 0", "Sun *-*-* 02:00:00"), ("*/15 * * * *", "*-*-* *:00/15:00"),
                                            ("30 6 1 */3 1-5", "Mon..Fri *-01/3-01 06:30:00"),
                                            ("0 2 * * MON", "Mon *-*-* 02:00:00"),
                                            ("0 2 * jan-mar/2 sun,7", "Sun *-01,03-* 02:00:00"),
                                            ("0-30/10 * * * 5-7", "Sun,Fri..Sat *-*-* *:00,10,20,30:00")])
def test_cron_becomes_a_systemd_calendar(cron, calendar):
    assert on_calendar(cron) == calendar
    units = systemd_units("weekly", cron, Path("/srv/radreport/schedule/weekly.sh"))
    assert f"OnCalendar={calendar}" in units["radreport-retrain-weekly.timer"]
    if shutil.which("systemd-analyze"):  # systemd's own parser accepts it
        subprocess.run(["systemd-analyze", "calendar", calendar], check=True, capture_output=True)


@pytest.mark.parametrize("name", ["nightly; touch pwned #", "a\n* * * * * touch pwned", "50%", "weekly $(touch pwned)",
                                  "../../etc/x", ".hidden", "", "-rf", "--help"])
def test_a_schedule_name_cannot_become_shell_or_a_path(name, tmp_path):
    with pytest.raises(RadreportError, match="letters, digits"):
        with_entry("", name, "0 2 * * 0", "true")
    with pytest.raises(RadreportError, match="letters, digits"):
        systemd_units(name, "0 2 * * 0", tmp_path / "x.sh")


@pytest.mark.parametrize("cron", ["0 2 * * 0\n* * * * * touch pwned", "0 2 * * $(touch pwned)", "0 2 * * 0;id"])
def test_a_cron_expression_cannot_carry_a_command(cron):
    with pytest.raises(RadreportError, match="cron"):
        with_entry("", "weekly", cron, "true")


@pytest.mark.parametrize("cron, why", [("0 2 * * 7-8", "day-of-week '8' is not 0-7 or SUN-SAT"),
                                       ("99 99 99 99 99", "minute '99' is not 0-59"),
                                       ("0 24 * * *", "hour '24' is not 0-23"),
                                       ("0 2 0 * *", "day-of-month '0' is not 1-31"),
                                       ("0 2 * 13 *", "month '13' is not 1-12 or JAN-DEC"),
                                       ("0 2 * * FUN", "day-of-week 'FUN' is not 0-7"), ("0 2 * * 5-1", "empty range"),
                                       ("*/0 * * * *", "empty range"), ("5/2 * * * *", "none of *, */n, a, a-b, a-b/n"),
                                       ("*-5 * * * *", "none of")])
def test_a_cron_out_of_range_or_misspelled_is_refused_in_one_line(cron, why):
    for use in (lambda: with_entry("", "weekly", cron, "true"), lambda: on_calendar(cron)):
        with pytest.raises(RadreportError, match=re.escape(why)) as err:
            use()
        assert f"cron {cron!r}" in str(err.value) and "\n" not in str(err.value)


def test_a_path_with_a_line_break_never_adds_a_line_to_a_unit_or_the_crontab(tmp_path):
    """What `--home` with a newline would give: an ExecStartPre= line in the service, a second crontab line."""
    script = tmp_path / "home\nExecStartPre=/bin/touch pwned" / "schedule" / "weekly.sh"
    with pytest.raises(RadreportError, match="control character"):
        systemd_units("weekly", "0 2 * * 0", script)
    with pytest.raises(RadreportError, match="control character"):
        with_entry("", "weekly", "0 2 * * 0", cron_command(script))


def test_a_crontab_that_cannot_be_listed_is_never_written_back(tmp_path, monkeypatch):
    from ops import scheduling

    written = fake_crontab(tmp_path, monkeypatch, "crontab: cannot open your crontab: Permission denied")
    with pytest.raises(RadreportError, match=r"crontab -l failed \(crontab: cannot open .*: Permission denied\)"):
        scheduling.remove("weekly")
    assert not written.exists()  # writing back "" would have wiped it
    written = fake_crontab(tmp_path, monkeypatch, "no crontab for radreport")
    scheduling.remove("weekly")
    assert written.read_text() == ""


def test_the_wrapper_runs_exactly_its_arguments_from_any_path(tmp_path):
    """What cron would run (its '%' unescaped, as cron does), through sh, on paths built to break shell text."""
    home = tmp_path / "home with space, 100% $(touch pwned) it's"
    argv = [sys.executable, "-c", "import json, sys; print(json.dumps(sys.argv[1:]))",
            "a b", "$(touch pwned)", "`touch pwned`", "50%", "it's", "; touch pwned #", "line\nbreak"]
    script = write_wrapper(home / "schedule" / "weekly.sh", home, argv, home / "weekly.out")
    line = entries(with_entry("", "weekly", "0 2 * * 0", cron_command(script)))["weekly"]
    command = line.removeprefix("0 2 * * 0 ").removesuffix(" # radreport-retrain:weekly")
    assert "%" not in command.replace("\\%", "")  # every % escaped for cron
    subprocess.run(["sh", "-c", command.replace("\\%", "%")], cwd=tmp_path, check=True)
    assert json.loads((home / "weekly.out").read_text()) == argv[3:]
    assert not list(tmp_path.rglob("pwned"))
    assert systemd_exec(script).startswith('"') and "100%% $$(touch" in systemd_exec(script)


def test_runs_never_overlap_and_a_dead_or_broken_lock_never_blocks(tmp_path):
    lock = tmp_path / "weekly.lock"
    with run_lock(lock, stale_after_s=3600):
        assert json.loads(lock.read_text())["pid"] == os.getpid()
        with pytest.raises(AlreadyRunning, match="runs never overlap"):
            with run_lock(lock, stale_after_s=3600):
                pass
    for leftover in ("", "{not json", '{"pid": 1}', json.dumps({"pid": os.getpid(), "started": 0})):
        lock.write_text(leftover)  # what a crashed run or an old version may leave: no process holds it
        with run_lock(lock, stale_after_s=3600):
            pass
    holder = subprocess.Popen([sys.executable, "-c", "import fcntl, sys, time; f = open(sys.argv[1]); "
                               "fcntl.flock(f, fcntl.LOCK_EX); print(flush=True); time.sleep(60)", str(lock)],
                              stdout=subprocess.PIPE, text=True)
    holder.stdout.readline()
    try:
        with pytest.raises(AlreadyRunning):
            with run_lock(lock, stale_after_s=3600):
                pass
    finally:
        holder.kill()
        holder.wait()
    with run_lock(lock, stale_after_s=3600):  # the kernel freed it when the holder died
        pass


def test_two_processes_never_both_hold_the_lock(tmp_path):
    lock, held = tmp_path / "weekly.lock", tmp_path / "held"
    code = ("import sys, time; from pathlib import Path; from radreport.schedule import run_lock, AlreadyRunning\n"
            "try:\n    with run_lock(Path(sys.argv[1]), 3600):\n"
            "        open(sys.argv[2], 'a').write('x'); time.sleep(1.5)\nexcept AlreadyRunning:\n    pass\n")
    runs = [subprocess.Popen([sys.executable, "-c", code, str(lock), str(held)]) for _ in range(4)]
    assert all(run.wait() == 0 for run in runs)
    assert held.read_text() == "x"


def test_no_lock_or_state_file_is_written_through_a_symlink(tmp_path):
    """A link planted in the state directory (weekly.lock -> a file of the user's) is refused in one line; the
    file it points to is neither truncated, written nor made executable."""
    target, folder = tmp_path / "precious", tmp_path / "schedule"
    target.write_text("keep me")
    target.chmod(0o600)
    state = RetrainState(folder, "weekly")

    def hold_lock():
        with run_lock(folder / "weekly.lock", 3600):
            pass

    writes = {"weekly.lock": hold_lock, "weekly.log.jsonl": lambda: state.record("failed", "f"),
              "weekly.json": lambda: state.record("succeeded", "f"),
              "weekly.sh": lambda: write_wrapper(folder / "weekly.sh", tmp_path, ["true"], tmp_path / "weekly.out")}
    for name, write in writes.items():
        (folder / name).symlink_to(target)
        with pytest.raises(RadreportError, match=f"{re.escape(str(folder / name))}: is a symbolic link") as err:
            write()
        assert "\n" not in str(err.value)
        (folder / name).unlink()
    assert target.read_text() == "keep me" and target.stat().st_mode & 0o777 == 0o600


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

    # the config changes (same data): a run, not a skip, and its training breaks
    config.write_text(yaml.safe_dump({**settings, "train": {**settings["train"], "model": str(tmp_path / "gone")}}))
    with pytest.raises(SystemExit, match=r"failed \(.*\); the registry's champion is v1 \(unchanged\)"):
        main(["retrain", "--config", str(config), "--data", str(data)])
    with open(data, "a") as reports:  # new reports arrive: a run again, and it breaks again
        reports.write(json.dumps({"report_id": "NEW-1", "findings": "Small left effusion.",
                                  "impression": "Small left effusion."}) + "\n")
    with pytest.raises(SystemExit, match="failed"):
        main(["retrain", "--config", str(config), "--data", str(data)])
    assert registry().get_registered_model(MODEL).aliases == {"champion": 1}
    log = [json.loads(line) for line in RetrainState(home() / "schedule", "weekly").log_path.read_text().splitlines()]
    assert [e["status"] for e in log] == ["succeeded", "skipped", "failed", "failed"] and "gone" in log[-1]["error"]
    assert log[-1]["champion_before"] == log[-1]["champion_after"] == "v1"
    with run_lock(home() / "schedule" / "weekly.lock", 3600):  # released
        pass


def test_schedule_installs_once_lists_and_removes(stack, tmp_path, capsys):
    from radreport.paths import home

    name = f"radreport-test-{os.getpid()}"
    for _ in range(2):
        main(["schedule", "--cron", "0 2 * * 0", "--config", "configs/demo.yaml", "--name", name])
    if shutil.which("crontab"):
        installed = entries(subprocess.run(["crontab", "-l"], capture_output=True, text=True).stdout)
        assert list(installed).count(name) == 1
        assert installed[name].startswith(f"0 2 * * 0 {home() / 'schedule' / name}.sh ")
        assert f"retrain --name {name}" in (home() / "schedule" / f"{name}.sh").read_text()
    else:
        assert (home() / "schedule" / "systemd" / f"radreport-retrain-{name}.timer").exists()
    capsys.readouterr()
    main(["schedule", "--list"])
    assert name in capsys.readouterr().out
    main(["schedule", "--remove", "--name", name, "--config", "configs/demo.yaml"])
    capsys.readouterr()
    main(["schedule", "--list"])
    assert name not in capsys.readouterr().out
    assert not (home() / "schedule" / f"{name}.sh").exists()
    weird = tmp_path / "weekly $(touch pwned).yaml"
    shutil.copy("configs/demo.yaml", weird)
    with pytest.raises(SystemExit, match="pass --name"):  # the default name is the config's stem
        main(["schedule", "--cron", "0 2 * * 0", "--config", str(weird)])
