"""`retrain` on a schedule: a ZenML schedule where the active orchestrator runs them, else a crontab entry, else
systemd user units; each runs a generated wrapper script (radreport/schedule.py), never shell text."""

import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ops.env import PROJECT_ROOT
from radreport.errors import RadreportError
from radreport.paths import home, open_state
from radreport.schedule import (cron_command, entries, systemd_units, validate_cron, with_entry, without_entry,
                                write_wrapper)

SCHEDULING_ORCHESTRATORS = {"kubernetes", "kubeflow", "airflow", "vertex", "sagemaker", "azureml", "tekton",
                            "databricks", "lightning"}


@dataclass
class Installed:
    kind: str            # "zenml", "crontab" or "systemd"
    flavor: str          # the active orchestrator's
    where: str           # the log file (crontab) or the units folder (systemd)
    commands: list[str]  # what the user still runs (systemd)


def units_dir() -> Path:
    return home() / "schedule" / "systemd"


def read_crontab() -> str:
    """The user's crontab, "" when they have none. Any other failure stops here: writing back what was not read
    would wipe it."""
    if shutil.which("crontab") is None:
        return ""
    listed = subprocess.run(["crontab", "-l"], capture_output=True, text=True)
    if listed.returncode == 0:
        return listed.stdout
    if "no crontab for " in listed.stderr:
        return ""
    why = listed.stderr.strip().splitlines()[0] if listed.stderr.strip() else f"exit status {listed.returncode}"
    raise RadreportError(f"crontab -l failed ({why}); the crontab is left as it is")


def write_crontab(text: str) -> None:
    subprocess.run(["crontab", "-"], input=text, text=True, check=True)


def listed() -> list[str]:
    """Installed schedules: crontab lines and systemd timers."""
    return [*entries(read_crontab()).values(), *sorted(p.name for p in units_dir().glob("*.timer"))]


def remove(name: str) -> None:
    if shutil.which("crontab"):
        write_crontab(without_entry(read_crontab(), name))
    for unit in units_dir().glob(f"radreport-retrain-{name}.*"):
        unit.unlink()
    (home() / "schedule" / f"{name}.sh").unlink(missing_ok=True)


def install(name: str, cron: str, config, config_path: str) -> Installed:
    from zenml.client import Client

    from ops.runs import run_pipeline
    from ops.stack import bootstrap

    validate_cron(cron)
    bootstrap()
    flavor = Client().active_stack.orchestrator.flavor
    if flavor in SCHEDULING_ORCHESTRATORS:
        from zenml.config.schedule import Schedule

        run_pipeline(config, Schedule(name=f"radreport-{name}", cron_expression=cron))
        return Installed("zenml", flavor, "", [])
    log = home() / "schedule" / f"{name}.out"
    argv = [sys.executable, str(PROJECT_ROOT / "run.py"), "--home", str(home()), "retrain", "--name", name,
            "--config", str(Path(config_path).resolve()), "--data", config.data.path]
    script = write_wrapper(home() / "schedule" / f"{name}.sh", PROJECT_ROOT, argv, log)
    if shutil.which("crontab"):
        write_crontab(with_entry(read_crontab(), name, cron, cron_command(script)))
        return Installed("crontab", flavor, str(log), [])
    units_dir().mkdir(parents=True, exist_ok=True)
    for unit, text in systemd_units(name, cron, script).items():
        with open_state(units_dir() / unit) as file:
            file.write(text)
    service, timer = (shlex.quote(str(units_dir() / f"radreport-retrain-{name}.{kind}")) for kind in ("service", "timer"))
    return Installed("systemd", flavor, str(units_dir()), [f"systemctl --user link {service} {timer}",
                                                   f"systemctl --user enable --now radreport-retrain-{name}.timer"])
