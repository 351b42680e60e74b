"""Where radreport keeps its state: one directory, moved with RADREPORT_HOME."""

import errno
import os
from pathlib import Path

from radreport.errors import RadreportError

DEFAULT_HOME = Path(__file__).resolve().parent.parent / ".radreport"  # beside the checkout, wherever it runs from
WRITE_FLAGS = {"w": os.O_WRONLY | os.O_CREAT | os.O_TRUNC, "a": os.O_WRONLY | os.O_CREAT | os.O_APPEND}


def home() -> Path:
    """The state directory (ZenML store, artifacts, MLflow store, model cache)."""
    return Path(os.environ.get("RADREPORT_HOME") or DEFAULT_HOME).resolve()


def model_cache() -> Path:
    """Converted base models; RADREPORT_MODEL_CACHE shares them between state directories."""
    return Path(os.environ.get("RADREPORT_MODEL_CACHE") or home() / "models").resolve()


def exports() -> Path:
    return home() / "exports"


def state_fd(path: Path, flags: int, permissions: int = 0o666) -> int:
    """os.open of a lock or state file that never follows a symlink: a link planted in the state directory
    (locks/x.lock -> ~/.bashrc) is refused in one line rather than its target truncated or written."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW, permissions)
    except OSError as err:
        if err.errno != errno.ELOOP:
            raise
        raise RadreportError(f"{path}: is a symbolic link; radreport writes its state files only in place "
                             "(remove the link)") from None


def open_state(path: Path, mode: str = "w", permissions: int = 0o666):
    """open(path, mode) for writing ("w", "a", "wb", "ab") through state_fd."""
    return os.fdopen(state_fd(path, WRITE_FLAGS[mode.rstrip("b")], permissions), mode)
