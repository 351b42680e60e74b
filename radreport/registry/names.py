"""Registered model names and versions, checked before either names a folder on disk.

A model name becomes a folder (serving/<name>-v<version>, exports/<name>): MLflow's rules (not empty, no `/` or `:`)
plus ours (no `.`/`..`, backslash or control characters) keep it one plain path component."""

from pathlib import Path

from radreport.errors import RadreportError

FORBIDDEN = ("/", ":", "\\")


def name_problem(name: str) -> str | None:
    if not name or not name.strip():
        return "is empty"
    if any(c in name for c in FORBIDDEN) or name in (".", ".."):
        return "may not contain '/', ':' or '\\\\', nor be '.' or '..'"
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "may not contain control characters"
    if len(name) > 256:
        return "is longer than 256 characters"
    return None


def check_model_name(name: str) -> str:
    problem = name_problem(name)
    if problem:
        raise RadreportError(f"model name {name[:80]!r} {problem}")
    return name


def check_version(version) -> int:
    """A version number as MLflow numbers them (1, 2, ...)."""
    text = str(version).strip()
    if not text.isdigit() or int(text) < 1:
        raise RadreportError(f"model version {text[:40]!r} is not a version number (1, 2, ...)")
    return int(text)


def inside(root: Path, *parts: str) -> Path:
    """root/parts, refused unless it stays inside root (a checked name always does; this is the last guard)."""
    path = root.joinpath(*parts)
    if root.resolve() not in path.resolve().parents:
        raise RadreportError(f"{path}: outside {root}")
    return path
