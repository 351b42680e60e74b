"""Two members of a team on one ZenML server and one MLflow server (on PostgreSQL), as docs/operations.md's "Team"
section sets them up: real servers on free loopback ports, each member a process with their own state directory and
ZenML client config. What one member registers, promotes and runs, the other sees and is gated against."""

import json
import os
import stat
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from tests.team_servers import PG_BIN, team_servers

ROOT = Path(__file__).resolve().parent.parent
NAME = "radreport-team-test"
TIMES: dict[str, float] = {}

pytestmark = pytest.mark.skipif(PG_BIN is None, reason="Debian's postgresql is not installed (make setup installs it)")


@pytest.fixture(scope="module")
def team():
    root = Path(tempfile.mkdtemp(prefix="radreport-team-"))
    root.chmod(root.stat().st_mode | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)  # postgres reads it
    with team_servers(root) as servers:
        TIMES.update({f"{name} start s": round(s, 1) for name, s in servers.seconds.items()})
        yield servers
    print(f"\nteam stack timings: {json.dumps(TIMES)}")


def member(team, home: Path):
    """A function running `run.py ARGS` (or any command) as this member; returns its stdout, fails with its log."""
    home.mkdir(parents=True, exist_ok=True)
    env = team.client_env(home)

    def run(*args: str, timeout: float = 600) -> str:
        command = [sys.executable, "run.py", *args] if not args[0].startswith(("bash", "zenml")) else list(args)
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
        assert done.returncode == 0, f"{' '.join(args)}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        return done.stdout

    run.env = env
    return run


def tiny_config(folder: Path, tiny_model: Path, learning_rate: float) -> str:
    path = folder / f"tiny-{learning_rate}.yaml"
    path.write_text(yaml.safe_dump({
        "train": {"model": str(tiny_model), "max_steps": 2, "save_steps": 2, "logging_steps": 1, "batch_size": 4,
                  "learning_rate": learning_rate},
        "eval": {"max_examples": 6, "max_new_tokens": 6},
        "human_eval": {"cases": 2},
        # A tiny random model cannot beat the baselines: this test is about where decisions live, not the gate's rules.
        "promotion": {"model_name": NAME, "floors": {"rougeL": 0.0}, "beat_baselines": []},
    }))
    return str(path)


def registry(team):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=team.mlflow_uri, registry_uri=team.mlflow_uri)


def trail(team) -> list[dict]:
    from radreport.registry.audit import entries

    return [e for e in entries(registry(team), NAME) if e["action"] != "intent"]


def timed(label: str, work):
    started = time.monotonic()
    result = work()
    TIMES[label] = round(time.monotonic() - started, 1)
    return result


def test_two_members_share_runs_models_lineage_and_decisions(team, tiny_model, tmp_path):
    alice, bob = member(team, tmp_path / "alice"), member(team, tmp_path / "bob")
    timed("team.sh s", lambda: alice("bash", "configs/stacks/team.sh"))
    assert "stack            radreport-team" in alice("stack")
    out = timed("alice's run s", lambda: alice("run", "--config", tiny_config(tmp_path, tiny_model, 2e-4)))
    assert f"registry: {NAME} v1 -> champion" in out
    assert not (tmp_path / "alice" / "artifacts" / "mlflow.db").exists()  # nothing went to an embedded store

    bob("zenml", "stack", "set", "radreport-team")
    stack = bob("stack")
    assert f"MLflow tracking  {team.mlflow_uri}" in stack and "from stack radreport-team's experiment tracker" in stack
    assert f"{NAME}" in bob("models") and "champion" in bob("models", "--name", NAME)
    lineage = bob("lineage", "--name", NAME)
    assert "ZenML run radreport_training" in lineage and "promote_model:completed" in lineage

    predicted = subprocess.run(
        [sys.executable, "-c", "import json, mlflow, pandas as pd; m = mlflow.pyfunc.load_model("
         f"'models:/{NAME}@champion'); print(json.dumps(list(m.predict(pd.DataFrame({{'findings': ['Clear lungs.']}}), "
         "params={'max_new_tokens': 2}))))"], cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={**bob.env, "MLFLOW_TRACKING_URI": team.mlflow_uri})
    assert predicted.returncode == 0, predicted.stderr[-3000:]
    assert len(json.loads(predicted.stdout.strip().splitlines()[-1])) == 1  # loaded through mlflow-artifacts:

    out = timed("bob's run s", lambda: bob("run", "--config", tiny_config(tmp_path, tiny_model, 1e-3)))
    assert f"registry: {NAME} v2 ->" in out
    gated = trail(team)[-1]
    assert gated["version"] == 2 and gated["champion_version"] == 1  # gated against alice's champion

    before = len(trail(team))
    started = time.monotonic()
    with ThreadPoolExecutor(2) as pool:  # two processes, two homes, one registry: the gate's lock is the registry's
        for done in [pool.submit(who, "promote", str(version), "--name", NAME) for who, version in ((alice, 1), (bob, 2))]:
            done.result()
    TIMES["two promotions at once s"] = round(time.monotonic() - started, 1)
    first, second = trail(team)[before:]
    assert {first["version"], second["version"]} == {1, 2}
    champion_after_first = first["version"] if first["result"] == "champion" else first["champion_version"]
    assert second["champion_version"] == champion_after_first  # the second decided after the first: serialised
    aliases = registry(team).get_registered_model(NAME).aliases
    expected = second["version"] if second["result"] == "champion" else second["champion_version"]
    assert int(aliases["champion"]) == expected and list(aliases.values()).count(aliases["champion"]) == 1


def test_twenty_clients_registering_a_new_name_at_once_all_succeed(team, tmp_path):
    """Check-then-create once failed about one time in three with RESOURCE_ALREADY_EXISTS."""
    import mlflow
    from mlflow import MlflowClient

    from radreport.registry.store import register

    mlflow.set_tracking_uri(team.mlflow_uri)
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    client = MlflowClient(tracking_uri=team.mlflow_uri, registry_uri=team.mlflow_uri)
    run = client.create_run(client.create_experiment(f"race-{os.getpid()}"))
    client.log_artifacts(run.info.run_id, str(adapter), "adapter")
    source = f"{run.info.artifact_uri}/adapter"
    versions, errors = [], []

    def register_one():
        try:
            own = MlflowClient(tracking_uri=team.mlflow_uri, registry_uri=team.mlflow_uri)
            versions.append(register(own, "radreport-race", source, run.info.run_id, {}))
        except Exception as error:  # noqa: BLE001 - collected and asserted below
            errors.append(repr(error))

    with ThreadPoolExecutor(20) as pool:
        for _ in range(20):
            pool.submit(register_one)
    assert errors == [] and sorted(versions) == list(range(1, 21))
