"""`run.py dashboard`: the MLflow UI and the ZenML dashboard on the project's own stores, both on 127.0.0.1.

Each runs as a child process in its own process group, so stopping it stops its workers too.
The ZenML server reads the client's SQLite store directly (the client stays on it, unlike `zenml login --local`,
which would repoint the client at the server). It has no auth, so it runs behind ops/loopback_guard.py: loopback
Host names only, no cross-origin requests."""

import os
import signal
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ops.env import PROJECT_ROOT
from radreport.paths import open_state

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Server:
    name: str
    command: list[str]
    port: int
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


def mlflow_ui(port: int) -> Server:
    from ops.stack import embedded_tracking_uri as tracking_uri

    return Server("MLflow UI", [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", tracking_uri(),
                                "--registry-store-uri", tracking_uri(), "--no-serve-artifacts",
                                "--host", HOST, "--port", str(port), "--workers", "1"], port)


def zenml_dashboard(port: int) -> Server:
    config = Path(os.environ["ZENML_CONFIG_PATH"])
    env = {"ZENML_SERVER": "true", "ZENML_SERVER_DEPLOYMENT_TYPE": "local", "ZENML_SERVER_AUTH_SCHEME": "NO_AUTH",
           "ZENML_SERVER_AUTO_ACTIVATE": "True", "ZENML_SERVER_ALLOW_LOCAL_FILE_ACCESS": "true",
           "ZENML_DISABLE_DATABASE_MIGRATION": "True",  # the client migrated it; two migrators would race
           "ZENML_LOCAL_STORES_PATH": str(config / "local_stores"),
           "ZENML_SERVER_CORS_ALLOW_ORIGINS": f"http://{HOST}:{port}",  # never "*", ZenML's default
           "RADREPORT_GUARD_PORT": str(port)}
    return Server("ZenML dashboard", [sys.executable, "-m", "uvicorn", "ops.loopback_guard:zenml_app", "--factory",
                                      "--app-dir", str(PROJECT_ROOT), "--host", HOST, "--port", str(port),
                                      "--log-level", "warning"], port, env)


def wait_until_up(server: Server, process: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{server.name} exited with {process.returncode}; see {log}:\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{server.url}/health", timeout=2):
                return
        except OSError:  # refused while starting, or an HTTP error before it is ready
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{server.name} did not answer on {server.url} within {timeout:.0f} s; see {log}")
        time.sleep(0.5)


def stop(process: subprocess.Popen, timeout: float = 20) -> None:
    """Stop a server started in its own process group (start_new_session), its workers too: TERM, then KILL."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@contextmanager
def running(servers: list[Server], log_dir: Path):
    """Start every server, wait until each answers /health, and stop them all on the way out."""
    log_dir.mkdir(parents=True, exist_ok=True)
    processes = []
    try:
        for server in servers:
            log = log_dir / f"{server.name.lower().replace(' ', '-')}.log"
            process = subprocess.Popen(server.command, env={**os.environ, **server.env}, stdout=open_state(log),
                                       stderr=subprocess.STDOUT, start_new_session=True)
            processes.append(process)
            wait_until_up(server, process, log)
        yield processes
    finally:
        for process in processes:
            stop(process)
