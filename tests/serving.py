"""`run.py serve` as a real process on a free loopback port, for tests (started and stopped as the dashboards are)."""

import socket
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import httpx

from ops.dashboard import Server, running

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def serving(*args: str):
    """Yields (base URL, first /health answer) once the server answers; stops it on the way out."""
    port = free_port()
    server = Server("radreport serve", [sys.executable, str(ROOT / "run.py"), "serve", "--port", str(port), *args], port)
    with running([server], Path(tempfile.mkdtemp(prefix="radreport-serve-"))):
        yield server.url, httpx.get(f"{server.url}/health", timeout=5)


@contextmanager
def served_app(app):
    """An ASGI app under uvicorn in this process on a free loopback port; yields its base URL."""
    import threading
    import time

    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(10)
