"""`run.py serve` as a real process on a free loopback port, for tests."""

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def serving(*args: str, timeout: float = 120):
    """Yields (base URL, first /health answer) once the server answers; stops it on the way out."""
    port = free_port()
    server = subprocess.Popen([sys.executable, str(ROOT / "run.py"), "serve", "--port", str(port), *args],
                              env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            assert server.poll() is None, server.stdout.read()
            try:
                health = httpx.get(f"{url}/health", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.5)
        yield url, health
    finally:
        server.terminate()
        server.wait(timeout=30)
