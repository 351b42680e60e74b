"""Scheduled retraining on a machine without a scheduling orchestrator: a generated wrapper script run by a crontab
entry (or a systemd timer), a kernel run lock that a dead run cannot hold, and the record of the last successful
run's data."""

import fcntl
import json
import os
import re
import shlex
import socket
import time
import unicodedata
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from radreport.errors import RadreportError
from radreport.paths import open_state, state_fd

MARK = "# radreport-retrain:"
NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
CRON_FIELDS = (("minute", 0, 59, ()), ("hour", 0, 23, ()), ("day-of-month", 1, 31, ()), ("month", 1, 12, MONTHS),
               ("day-of-week", 0, 7, WEEKDAYS))  # cron allows 0 and 7 for Sunday
CRON_ITEM = re.compile(r"(\*|[0-9A-Za-z]+)(?:-([0-9A-Za-z]+))?(?:/([0-9]+))?")


class AlreadyRunning(RadreportError):
    """Another retraining run holds the lock."""


def validate_name(name: str) -> str:
    """A schedule name becomes file names, a crontab marker and systemd unit names (and an argument: never an
    option): plain characters only."""
    if not NAME.fullmatch(name):
        raise RadreportError(f"schedule name {name!r}: use letters, digits, '_', '.' and '-' only, starting with a "
                             "letter, digit or '_' (it defaults to the config file's name; give another)")
    return name


def one_line(value: str, what: str) -> str:
    """`value` unchanged, or RadreportError when it holds a control character (a newline would start a new crontab
    line or unit directive)."""
    if any(unicodedata.category(c) == "Cc" for c in value):
        raise RadreportError(f"{what} {value!r} holds a control character (a line break?); choose another")
    return value


def cron_number(cron: str, text: str, field: tuple) -> int:
    name, low, high, names = field
    if text.upper() in names:
        return names.index(text.upper()) + low
    if not text.isdigit() or not low <= int(text) <= high:
        spelled = f" or {names[0]}-{names[-1]}" if names else ""
        raise RadreportError(f"cron {cron!r}: {name} {text!r} is not {low}-{high}{spelled}")
    return int(text)


def cron_range(cron: str, item: str, field: tuple) -> tuple[int, int, int]:
    """One item of a cron field as (first, last, step): `*/15` -> (0, 59, 15), `MON-FRI` -> (1, 5, 1)."""
    match = CRON_ITEM.fullmatch(item)
    star = bool(match) and match[1] == "*"
    if not match or (star and match[2]) or (match[3] and not star and not match[2]):
        raise RadreportError(f"cron {cron!r}: {field[0]} item {item!r} is none of *, */n, a, a-b, a-b/n")
    first = field[1] if star else cron_number(cron, match[1], field)
    last = field[2] if star else cron_number(cron, match[2] or match[1], field)
    step = int(match[3] or 1)
    if first > last or step == 0:
        raise RadreportError(f"cron {cron!r}: {field[0]} item {item!r} is an empty range")
    return first, last, step


def cron_ranges(cron: str, text: str, field: tuple) -> list[tuple[int, int, int]]:
    return [cron_range(cron, item, field) for item in text.split(",")]


def validate_cron(cron: str) -> list[str]:
    """The five fields, each range and name checked (what crontab and systemd would refuse or misread)."""
    fields = [f for f in cron.split(" ") if f]
    if len(fields) != 5:
        raise RadreportError(f"cron {cron!r}: needs 5 fields (minute hour day-of-month month day-of-week)")
    for text, field in zip(fields, CRON_FIELDS):
        cron_ranges(cron, text, field)
    return fields


def wrapper_script(workdir: Path, argv: list[str], log: Path) -> str:
    """A POSIX sh script that runs argv in workdir and appends its output to log. cron and systemd run this file,
    never shell text built from names or paths: every word here is quoted."""
    return (f"#!/bin/sh\n# written by `run.py schedule`; rewritten on every install\n"
            f"cd {shlex.quote(str(workdir))} || exit 1\n"
            f"exec {shlex.join(argv)} >> {shlex.quote(str(log))} 2>&1\n")


def write_wrapper(path: Path, workdir: Path, argv: list[str], log: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open_state(path, "w", 0o700) as script:
        os.fchmod(script.fileno(), 0o700)  # an existing file keeps its mode on open
        script.write(wrapper_script(workdir, argv, log))
    return path


def cron_command(script: Path) -> str:
    """The script as a crontab command: shell-quoted, with '%' escaped (cron turns a bare one into a newline)."""
    return shlex.quote(one_line(str(script), "script path")).replace("%", "\\%")


def systemd_exec(script: Path) -> str:
    """The script as one ExecStart= word: double-quoted, with systemd's specifier '%' and variable '$' escaped."""
    text = one_line(str(script), "script path")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%").replace("$", "$$") + '"'


def with_entry(crontab: str, name: str, cron: str, command: str) -> str:
    """The crontab with this schedule's line added, or replacing the line it had: installing twice changes nothing."""
    validate_cron(cron)
    validate_name(name)
    one_line(command, "crontab command")
    return without_entry(crontab, name) + f"{cron} {command} {MARK}{name}\n"


def without_entry(crontab: str, name: str) -> str:
    kept = [line for line in crontab.splitlines() if not line.endswith(f"{MARK}{name}")]
    return "\n".join(kept) + "\n" if kept else ""


def entries(crontab: str) -> dict[str, str]:
    """{schedule name: its crontab line} for radreport's lines."""
    return {line.rsplit(MARK, 1)[1]: line for line in crontab.splitlines() if MARK in line}


def calendar_field(cron: str, text: str, field: tuple) -> str:
    """One cron field in systemd's calendar syntax: * stays, a-b becomes a..b, a-<last>/n becomes a/n, another
    stepped range its values."""
    if text == "*":
        return "*"
    items = []
    for first, last, step in cron_ranges(cron, text, field):
        if step == 1:
            items.append(f"{first:02d}" if first == last else f"{first:02d}..{last:02d}")
        elif last == field[2]:
            items.append(f"{first:02d}/{step}")
        else:
            items.extend(f"{value:02d}" for value in range(first, last + 1, step))
    return ",".join(items)


def calendar_days(cron: str, text: str) -> str:
    """The day-of-week field as systemd's weekday prefix ("" for any day; "1-5" -> "Mon..Fri "; 7 is Sunday)."""
    if text == "*":
        return ""
    days = sorted({value % 7 for first, last, step in cron_ranges(cron, text, CRON_FIELDS[4])
                   for value in range(first, last + 1, step)})
    runs = []
    for day in days:
        if runs and runs[-1][1] == day - 1:
            runs[-1][1] = day
        else:
            runs.append([day, day])
    names = [day.title() for day in WEEKDAYS]
    return ",".join(names[a] if a == b else f"{names[a]}..{names[b]}" for a, b in runs) + " "


def on_calendar(cron: str) -> str:
    """A cron expression as systemd's OnCalendar= ("0 2 * * 0" -> "Sun *-*-* 02:00:00")."""
    fields = validate_cron(cron)
    minute, hour, day, month = (calendar_field(cron, text, field) for text, field in zip(fields[:4], CRON_FIELDS))
    return f"{calendar_days(cron, fields[4])}*-{month}-{day} {hour}:{minute}:00"


def systemd_units(name: str, cron: str, script: Path) -> dict[str, str]:
    """A service and a timer that run `script` on the cron schedule (for machines without crontab)."""
    validate_name(name)
    service = f"[Unit]\nDescription=radreport retraining ({name})\n\n[Service]\nType=oneshot\nExecStart={systemd_exec(script)}\n"
    timer = (f"[Unit]\nDescription=radreport retraining ({name}) on '{cron}'\n\n[Timer]\nOnCalendar={on_calendar(cron)}\n"
             f"Persistent=true\n\n[Install]\nWantedBy=timers.target\n")
    return {f"radreport-retrain-{name}.service": service, f"radreport-retrain-{name}.timer": timer}


def lock_holder(path: Path) -> dict:
    """What the holder wrote into the lock file, or placeholders when it is empty or unreadable."""
    try:
        holder = json.loads(path.read_text())
    except (OSError, ValueError):
        holder = None
    holder = holder if isinstance(holder, dict) else {}
    try:
        holder["started"] = float(holder["started"])
    except (KeyError, TypeError, ValueError):
        holder.pop("started", None)
    return holder


@contextmanager
def run_lock(path: Path, stale_after_s: float):
    """Hold `path` for one run with a kernel lock (flock): the kernel frees it when the holder's process ends,
    however it ends, so a dead run never blocks the schedule and two runs can never both hold it. A live holder
    stops this run with AlreadyRunning; one older than `stale_after_s` is named as possibly hung."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = state_fd(path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        holder = lock_holder(path)
        age = time.time() - float(holder.get("started", time.time()))
        hung = f"; longer than {stale_after_s / 3600:g} h, it may be hung: stop it" if age > stale_after_s else ""
        raise AlreadyRunning(f"another retraining run holds {path} (pid {holder.get('pid', '?')} on "
                             f"{holder.get('host', '?')}, {age:.0f} s){hung}; runs never overlap") from None
    try:
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "started": time.time(), "host": socket.gethostname()}).encode())
        yield
    finally:
        os.ftruncate(fd, 0)  # the file stays (unlinking it would let a waiting opener lock a file no one else sees)
        os.close(fd)


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
        with open_state(self.log_path, "a") as log:
            log.write(json.dumps(entry) + "\n")
        if status == "succeeded":
            with open_state(self.path) as last:
                last.write(json.dumps(entry, indent=2))
        return entry
