"""A team's servers on free loopback ports, for tests: PostgreSQL (Debian's), an MLflow tracking server and registry on
it serving artifacts, and a ZenML server (SQLite store, password auth). The same commands as docs/operations.md's "Team"
section; each process in its own group, all stopped on the way out."""

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from ops.dashboard import stop
from tests.serving import free_port

PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"))), None) if Path("/usr/lib/postgresql").exists() \
    else None
ZENML_USER, ZENML_PASSWORD = "default", "team-test-password"


@dataclass
class TeamServers:
    mlflow_uri: str
    zenml_url: str
    artifacts: Path   # the folder every member mounts (the team stack's local artifact store)
    seconds: dict     # each server's start time

    def client_env(self, home: Path) -> dict:
        """A member's environment: their own state directory and ZenML client config, logged in to the server."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ZENML_", "MLFLOW_", "RADREPORT_"))}
        return {**env, "RADREPORT_HOME": str(home), "ZENML_CONFIG_PATH": str(home / "zenml-client"),
                "ZENML_STORE_URL": self.zenml_url, "ZENML_STORE_USERNAME": ZENML_USER,
                "ZENML_STORE_PASSWORD": ZENML_PASSWORD, "ZENML_ANALYTICS_OPT_IN": "false",
                "RADREPORT_MODEL_CACHE": os.environ.get("RADREPORT_MODEL_CACHE", ""),
                "MLFLOW_URI": self.mlflow_uri, "ARTIFACTS": str(self.artifacts), "MLFLOW_DISABLE_TELEMETRY": "true",
                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"}


def start(command: list[str], log: Path, env: dict | None = None, user: str | None = None) -> subprocess.Popen:
    if user:
        command = ["runuser", "-u", user, "--", *command]
    return subprocess.Popen(command, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, **(env or {})})


def wait_for(url: str, process: subprocess.Popen, log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited: {log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within {timeout} s: {log.read_text()[-3000:]}")


@contextmanager
def postgres(root: Path):
    """A PostgreSQL cluster owned by the `postgres` user (it refuses to run as root); yields its port."""
    data, port = root / "pg", free_port()
    data.mkdir(parents=True)
    as_root = os.geteuid() == 0
    if as_root:
        shutil.chown(data, "postgres")
    user = "postgres" if as_root else None
    run = lambda *cmd: subprocess.run(["runuser", "-u", "postgres", "--", *cmd] if user else list(cmd),  # noqa: E731
                                      check=True, capture_output=True, timeout=120)
    run(str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust")
    run(str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(data / "log"), "-w",
        "-o", f"-p {port} -k {data} -c listen_addresses=127.0.0.1", "start")
    try:
        run(str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "mlflow")
        yield port
    finally:
        run(str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "stop")


@contextmanager
def team_servers(root: Path):
    seconds = {}
    with ExitStack() as stack:
        started = time.monotonic()
        pg_port = stack.enter_context(postgres(root))
        seconds["postgresql"] = time.monotonic() - started

        mlflow_port, artifacts = free_port(), root / "mlflow-artifacts"
        log = root / "mlflow.log"
        started = time.monotonic()
        mlflow = start([sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(mlflow_port),
                        "--backend-store-uri", f"postgresql+psycopg2://postgres@127.0.0.1:{pg_port}/mlflow",
                        "--serve-artifacts", "--artifacts-destination", str(artifacts), "--workers", "2"],
                       log, {"MLFLOW_DISABLE_TELEMETRY": "true",
                             "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"})
        stack.callback(partial(stop, timeout=30), mlflow)

        zenml_port = free_port()
        zenml_log = root / "zenml-server.log"
        zenml_started = time.monotonic()
        zenml = start([sys.executable, "-m", "uvicorn", "zenml.zen_server.zen_server_api:app", "--host", "127.0.0.1",
                       "--port", str(zenml_port), "--log-level", "warning"], zenml_log, {
            "ZENML_STORE_URL": f"sqlite:///{root / 'zenml-server.db'}", "ZENML_SERVER": "true",
            "ZENML_SERVER_DEPLOYMENT_TYPE": "other", "ZENML_SERVER_JWT_SECRET_KEY": os.urandom(16).hex(),
            "ZENML_SERVER_AUTO_ACTIVATE": "True", "ZENML_DEFAULT_USER_NAME": ZENML_USER,
            "ZENML_DEFAULT_USER_PASSWORD": ZENML_PASSWORD, "ZENML_ANALYTICS_OPT_IN": "false",
            "ZENML_CONFIG_PATH": str(root / "zenml-server-config")})
        stack.callback(partial(stop, timeout=30), zenml)

        wait_for(f"http://127.0.0.1:{mlflow_port}/health", mlflow, log)
        seconds["mlflow"] = time.monotonic() - started
        wait_for(f"http://127.0.0.1:{zenml_port}/health", zenml, zenml_log)
        seconds["zenml"] = time.monotonic() - zenml_started
        shared = root / "team-artifacts"
        shared.mkdir()
        yield TeamServers(f"http://127.0.0.1:{mlflow_port}", f"http://127.0.0.1:{zenml_port}", shared, seconds)
