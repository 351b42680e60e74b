"""Scheduled retraining on a machine without a scheduling orchestrator: crontab entries (or a systemd timer), a run
lock that a dead or hung run cannot hold forever, and the record of the last successful run's data."""

import json
import os
import socket
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

MARK = "# radreport-retrain:"
DAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")  # cron allows 0 and 7 for Sunday


class AlreadyRunning(SystemExit):
    """Another retraining run holds the lock."""


def validate_cron(cron: str) -> list[str]:
    fields = cron.split()
    if len(fields) != 5:
        raise SystemExit(f"--cron {cron!r}: needs 5 fields (minute hour day-of-month month day-of-week)")
    return fields


def with_entry(crontab: str, name: str, cron: str, command: str) -> str:
    """The crontab with this schedule's line added, or replacing the line it had: installing twice changes nothing."""
    validate_cron(cron)
    return without_entry(crontab, name) + f"{cron} {command} {MARK}{name}\n"


def without_entry(crontab: str, name: str) -> str:
    kept = [line for line in crontab.splitlines() if not line.endswith(f"{MARK}{name}")]
    return "\n".join(kept) + "\n" if kept else ""


def entries(crontab: str) -> dict[str, str]:
    """{schedule name: its crontab line} for radreport's lines."""
    return {line.rsplit(MARK, 1)[1]: line for line in crontab.splitlines() if MARK in line}


def calendar_field(field: str, first: int) -> str:
    """One cron field in systemd's calendar syntax: lists stay lists, a-b becomes a..b, */n becomes first/n."""
    if field == "*":
        return "*"
    if field.startswith("*/"):
        return f"{first:02d}/{field[2:]}"
    return ",".join("..".join(f"{int(v):02d}" for v in item.split("-")) for item in field.split(","))


def on_calendar(cron: str) -> str:
    """A cron expression as systemd's OnCalendar= ("0 2 * * 0" -> "Sun *-*-* 02:00:00")."""
    minute, hour, day, month, weekday = validate_cron(cron)
    days = "" if weekday == "*" else ",".join(
        "..".join(DAYS[int(v)] for v in item.split("-")) for item in weekday.split(",")) + " "
    return (f"{days}*-{calendar_field(month, 1)}-{calendar_field(day, 1)} "
            f"{calendar_field(hour, 0)}:{calendar_field(minute, 0)}:00")


def systemd_units(name: str, cron: str, command: str) -> dict[str, str]:
    """A service and a timer that run `command` on the cron schedule (for machines without crontab)."""
    service = f"[Unit]\nDescription=radreport retraining ({name})\n\n[Service]\nType=oneshot\nExecStart=/bin/sh -c '{command}'\n"
    timer = (f"[Unit]\nDescription=radreport retraining ({name}) on '{cron}'\n\n[Timer]\nOnCalendar={on_calendar(cron)}\n"
             f"Persistent=true\n\n[Install]\nWantedBy=timers.target\n")
    return {f"radreport-retrain-{name}.service": service, f"radreport-retrain-{name}.timer": timer}


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def run_lock(path: Path, stale_after_s: float):
    """Hold `path` for one run. A lock whose process is gone, or that is older than `stale_after_s` (a hung run),
    is taken over with a warning; a live one stops this run with AlreadyRunning."""
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            break
        except FileExistsError:
            try:
                holder = json.loads(path.read_text())
            except (OSError, ValueError):  # being written right now, or left half-written
                holder = {"pid": -1, "started": time.time() if path.exists() else 0, "host": "?"}
            age = time.time() - holder["started"]
            same_host = holder.get("host") == socket.gethostname()
            if (same_host and not process_alive(holder["pid"])) or age > stale_after_s:
                print(f"taking over a stale retraining lock {path} (pid {holder['pid']}, {age:.0f} s old)")
                path.unlink(missing_ok=True)
                continue
            raise AlreadyRunning(f"another retraining run holds {path} (pid {holder['pid']} on {holder.get('host')}, "
                                 f"{age:.0f} s); runs never overlap")
    with os.fdopen(fd, "w") as lock:
        json.dump({"pid": os.getpid(), "started": time.time(), "host": socket.gethostname()}, lock)
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


class RetrainState:
    """What the last successful retraining run of one schedule trained on, and a log of every run."""

    def __init__(self, folder: Path, name: str):
        self.path, self.log_path = folder / f"{name}.json", folder / f"{name}.log.jsonl"
        folder.mkdir(parents=True, exist_ok=True)

    def last_success(self) -> dict | None:
        return json.loads(self.path.read_text()) if self.path.exists() else None

    def record(self, status: str, fingerprint: str, **details) -> dict:
        entry = {"time": datetime.now(timezone.utc).isoformat(timespec="seconds"), "status": status,
                 "data_fingerprint": fingerprint, **details}
        with open(self.log_path, "a") as log:
            log.write(json.dumps(entry) + "\n")
        if status == "succeeded":
            self.path.write_text(json.dumps(entry, indent=2))
        return entry
