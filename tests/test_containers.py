"""Every step of the short demo pipeline in its own container, on the team's servers, as docs/operations.md's
"Containers" section runs it: a Docker daemon on loopback only (no bridge, no iptables; started here, stopped at the
end), the project's image built from Debian's packages and the pinned requirements (ops/docker/build.sh: no pull, no
registry; kept in the daemon's data root between sessions and rebuilt only when its inputs change), real PostgreSQL,
MLflow and ZenML servers on free loopback ports, the stack registered by configs/stacks/docker.sh as a member would."""

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
import yaml

from ops.dashboard import stop
from tests.team_servers import PG_BIN, team_servers

ROOT = Path(__file__).resolve().parent.parent
NAME = "radreport-docker-test"
STEPS = ["ingest_reports", "structure_findings", "format_alpaca", "train_lora", "evaluate_checkpoints",
         "export_human_eval", "promote_model"]
# The daemon's images survive the session here (the image is built once per machine and inputs).
DATA_ROOT = Path(os.environ.get("RADREPORT_DOCKER_ROOT", "/var/tmp/radreport-docker"))
IMAGE_WORK = Path(os.environ.get("RADREPORT_IMAGE_WORK", "/var/tmp/radreport-image"))
TIMES: dict[str, float] = {}

pytestmark = [
    pytest.mark.skipif(shutil.which("dockerd") is None or shutil.which("debootstrap") is None,
                       reason="Debian's docker.io and debootstrap are not installed (make docker installs them)"),
    pytest.mark.skipif(PG_BIN is None, reason="Debian's postgresql is not installed (make postgres installs it)"),
]


def start_dockerd(run_dir: Path, data_root: Path) -> tuple[subprocess.Popen, str]:
    """dockerd on a socket of its own, on the host's network only: no bridge, no NAT, no iptables rules; the host
    gateway is loopback, so a container's host.docker.internal (where ZenML sends 127.0.0.1) is this host's."""
    socket = f"unix://{run_dir / 'docker.sock'}"
    log = run_dir / "dockerd.log"
    process = subprocess.Popen(
        ["dockerd", "--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-masq=false",
         "--host-gateway-ip=127.0.0.1", "--storage-driver=overlay2", "--data-root", str(data_root),
         "--exec-root", str(run_dir / "exec"), "--pidfile", f"{data_root}.pid", "-H", socket],
        stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    import docker

    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.skip(f"dockerd cannot start here: {(log.read_text().strip().splitlines() or ['-'])[-1]}")
            try:
                client = docker.DockerClient(base_url=socket, version="auto")  # asks the daemon its API version
            except docker.errors.DockerException:  # not answering yet
                time.sleep(0.2)
                continue
            client.containers.prune()  # what an interrupted session left in this data root
            return process, socket
        pytest.skip(f"dockerd did not answer within 60 s: {log.read_text()[-500:]}")
    except BaseException:
        stop(process, timeout=60)
        raise


@pytest.fixture(scope="module")
def daemon():
    run_dir = Path(tempfile.mkdtemp(prefix="rrd-", dir="/tmp"))  # short: a unix socket's path is at most 107 bytes
    data_root, private = DATA_ROOT, False
    try:
        held = int(Path(f"{DATA_ROOT}.pid").read_text())
        os.kill(held, 0)  # another session's daemon has the shared data root: this one gets its own, removed after
        data_root, private = Path(tempfile.mkdtemp(prefix="radreport-docker-", dir="/var/tmp")), True
    except (OSError, ValueError):
        pass
    data_root.mkdir(parents=True, exist_ok=True)
    process = None
    try:
        started = time.monotonic()
        process, socket = start_dockerd(run_dir, data_root)
        TIMES["dockerd start s"] = round(time.monotonic() - started, 2)
        yield socket
    finally:
        if process:
            stop(process, timeout=60)
        for mount in reversed(Path("/proc/mounts").read_text().splitlines()):  # dockerd leaves its netns mounted
            if mount.split()[1].startswith(f"{run_dir}/"):
                subprocess.run(["umount", mount.split()[1]], check=False)
        shutil.rmtree(run_dir, ignore_errors=True)
        if private:
            shutil.rmtree(data_root, ignore_errors=True)
        print(f"\ncontainer timings: {json.dumps(TIMES)}")


@pytest.fixture(scope="module")
def image_build(daemon, tmp_path_factory):
    """ops/docker/build.sh, started at once (the servers start meanwhile); it keeps an image built for its inputs."""
    log = tmp_path_factory.mktemp("image") / "build.log"
    started = time.monotonic()
    process = subprocess.Popen(["bash", "ops/docker/build.sh"], cwd=ROOT, stdout=log.open("w"),
                               stderr=subprocess.STDOUT, start_new_session=True,
                               env={**os.environ, "DOCKER_HOST": daemon, "PYTHON": sys.executable,
                                    "WORK": str(IMAGE_WORK)})
    timer = threading.Thread(target=lambda: (process.wait(), TIMES.update(
        {"image build s": round(time.monotonic() - started, 1)})), daemon=True)
    timer.start()
    yield process, timer, log
    stop(process, timeout=60)


@pytest.fixture(scope="module")
def image(image_build) -> str:
    """radreport-base, as configs/stacks/docker_run.yaml names it."""
    process, timer, log = image_build
    process.wait(timeout=1200)
    timer.join()
    assert process.returncode == 0, f"ops/docker/build.sh:\n{log.read_text()[-4000:]}"
    print(f"\n{log.read_text().strip()}")
    return yaml.safe_load((ROOT / "configs" / "stacks" / "docker_run.yaml").read_text())["settings"]["docker"][
        "parent_image"]


@pytest.fixture(scope="module")
def team():
    root = Path(tempfile.mkdtemp(prefix="radreport-team-"))
    root.chmod(root.stat().st_mode | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)  # postgres reads it
    with team_servers(root) as servers:
        yield servers
    shutil.rmtree(root, ignore_errors=True)


def test_the_demo_pipeline_runs_every_step_in_its_own_container_on_the_team_servers(daemon, image_build, team,
                                                                                    tiny_model, image, tmp_path):
    import docker
    from mlflow import MlflowClient

    from radreport.ingest.sample_data import write_sample

    home = tmp_path / "member"
    home.mkdir()
    env = {**team.client_env(home), "DOCKER_HOST": daemon, "PYTHON": sys.executable}

    def run(*command: str, timeout: float = 900) -> str:
        done = subprocess.run(list(command), cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
        assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
        return re.sub(r"\x1b\[[0-9;]*m", "", done.stdout + done.stderr)  # ZenML's colours

    run("bash", "configs/stacks/docker.sh")
    # Containers see this host's files only in ZenML's local stores folder (mounted at the same path): the artifact
    # store is there, and the data and the base model go there too (or are URLs, as for a pod).
    stores = Path(env["ZENML_CONFIG_PATH"]) / "local_stores"
    stack = run(sys.executable, "run.py", "stack")
    assert "stack            radreport-docker" in stack and "orchestrator     radreport_docker (local_docker)" in stack
    assert f"artifact store   docker_artifacts (local): {stores}/radreport-docker" in stack
    assert f"MLflow tracking  {team.mlflow_uri}" in stack
    model = shutil.copytree(tiny_model, stores / "models" / "tiny")
    data = write_sample(stores / "data" / "synthetic_reports.jsonl", n=120)
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({
        "train": {"model": str(model), "max_steps": 2, "save_steps": 2, "logging_steps": 1, "batch_size": 4},
        "eval": {"max_examples": 6, "max_new_tokens": 6},
        "human_eval": {"cases": 2},
        "promotion": {"model_name": NAME, "floors": {"rougeL": 0.0}, "beat_baselines": []},
    }))

    client = docker.DockerClient(base_url=daemon, version="auto")
    since = int(time.time()) - 1
    started = time.monotonic()
    out = run(sys.executable, "run.py", "run", "--config", str(config),
              "--zenml-config", "configs/stacks/docker_run.yaml", "--data", str(data))
    TIMES["pipeline in containers s"] = round(time.monotonic() - started, 1)
    assert f"registry: {NAME} v1 -> champion" in out
    assert all(re.search(rf"Running step \W?{step}\W? in Docker", out) for step in STEPS), out[-3000:]

    # One container per step, each created, started, exited 0 and removed; none is left.
    events = list(client.events(since=since, until=int(time.time()) + 1, decode=True,
                                filters={"type": "container"}))
    by_container: dict[str, list[str]] = {}
    for event in events:
        by_container.setdefault(event["id"], []).append(event["Action"])
    assert len(by_container) == len(STEPS), by_container
    for actions in by_container.values():
        assert [a for a in actions if a in ("create", "start", "die", "destroy")] == ["create", "start", "die",
                                                                                       "destroy"]
    assert all(e["Actor"]["Attributes"].get("exitCode") == "0" for e in events if e["Action"] == "die")
    images = {e["Actor"]["Attributes"]["image"] for e in events if e["Action"] == "start"}
    assert client.containers.list(all=True) == []
    # ZenML tagged the project's image for the run (nothing built on top, nothing pulled); the code came with the run.
    assert {client.images.get(tag).id for tag in images} == {client.images.get(image).id}
    assert client.containers.run(image, ["python", "-c", "import importlib.util as u; print(u.find_spec('radreport'))"],
                                 remove=True, network_mode="none").strip() == b"None"

    # The run and its steps are on the ZenML server, the steps' outputs in the artifact store on this host.
    lineage = run(sys.executable, "run.py", "lineage", "--name", NAME)
    assert "ZenML run radreport_training" in lineage
    assert all(f"{step}:completed" in lineage for step in STEPS), lineage
    assert any(path.is_file() for path in (stores / "radreport-docker").rglob("*"))

    # The model is registered on the MLflow server, its files behind the server's artifact proxy.
    registry = MlflowClient(tracking_uri=team.mlflow_uri, registry_uri=team.mlflow_uri)
    version = registry.get_model_version(NAME, "1")
    assert registry.get_registered_model(NAME).aliases == {"champion": "1"}
    assert registry.get_run(version.run_id).info.artifact_uri.startswith("mlflow-artifacts:")
