"""The whole DAG on a real local ZenML stack and a real MLflow store/registry, with a tiny model."""

import os
import re
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient

from run import main
from tests.serving import free_port, serving

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def tiny_config(tmp_path_factory, tiny_model):
    def write(learning_rate=2e-4, **promotion):
        path = tmp_path_factory.mktemp("cfg") / "tiny.yaml"
        path.write_text(yaml.safe_dump({
            "train": {"model": str(tiny_model), "max_steps": 4, "learning_rate": learning_rate, "save_steps": 2, "logging_steps": 1, "batch_size": 4},
            "eval": {"max_examples": 8, "max_new_tokens": 8},
            "human_eval": {"cases": 4},
            # A tiny random model cannot beat the baselines: the tests that need a champion turn that rule off.
            "promotion": {"model_name": "radreport-test", "floors": {"rougeL": 0.0}, "beat_baselines": [], **promotion},
        }))
        return str(path)
    return write


def registry():
    from ops.stack import tracking_uri

    return MlflowClient(tracking_uri=tracking_uri(), registry_uri=tracking_uri())


def zenml_stage(tags: dict) -> str:
    from zenml.client import Client

    return Client().get_model_version("radreport-test", tags["zenml.model_version"]).stage


def latest_run():
    from zenml.client import Client

    return Client().get_pipeline("radreport_training").last_run


def test_pipeline_runs_all_stages_registers_a_champion_and_caches(stack, tiny_config, sample_path, capsys):
    from zenml.enums import ExecutionStatus

    config = tiny_config()
    main(["run", "--config", config, "--data", str(sample_path)])
    run = latest_run()
    assert run.status == ExecutionStatus.COMPLETED
    assert set(run.steps) == {"ingest_reports", "structure_findings", "format_alpaca", "train_lora",
                              "evaluate_checkpoints", "export_human_eval", "promote_model"}
    model = registry().get_registered_model("radreport-test")
    assert model.aliases == {"champion": 1}
    version = registry().get_model_version("radreport-test", "1")
    assert version.tags["gate.decision"] == "champion" and version.tags["zenml.pipeline_run_id"] == str(run.id)
    assert zenml_stage(version.tags) == "production"  # mirrored to the ZenML Model Control Plane
    from zenml.client import Client

    twin = Client().get_model_version("radreport-test", version.tags["zenml.model_version"]).run_metadata
    assert twin["mlflow_model"] == "models:/radreport-test/1" and twin["gate"] == "champion"
    assert twin["metrics"]["rougeL"] == pytest.approx(float(version.tags["metric.rougeL"]))

    mlflow_run = registry().get_run(version.run_id)  # lineage both ways
    assert mlflow_run.data.tags["zenml.pipeline_run_id"] == str(run.id)
    assert "data_fingerprint" in mlflow_run.data.tags and "config.train.lora_r" in mlflow_run.data.params
    assert run.steps["promote_model"].run_metadata["mlflow_run_id"] == version.run_id

    main(["run", "--config", config, "--data", str(sample_path)])  # nothing changed
    rerun = latest_run()
    cached = {name for name, s in rerun.steps.items() if s.status == ExecutionStatus.CACHED}
    assert cached == set(run.steps) - {"promote_model"}
    assert "already_registered" in str(rerun.steps["promote_model"].outputs["promotion_decision"][0].load())
    assert len(registry().search_model_versions("name='radreport-test'")) == 1

    capsys.readouterr()
    main(["models"])
    out = capsys.readouterr().out
    assert "radreport-test" in out and "champion" in out


def test_a_version_that_fails_the_gate_becomes_challenger(stack, tiny_config, sample_path, capsys):
    """A floor it misses, and the baselines of its own evaluation (the nearest-neighbour lookup) beating it."""
    config = tiny_config(learning_rate=1e-3, floors={"rougeL": 2.0}, beat_baselines=["rougeL"])
    main(["run", "--config", config, "--data", str(sample_path)])
    model = registry().get_registered_model("radreport-test")
    challenger = model.aliases["challenger"]
    assert model.aliases["champion"] != challenger
    tags = registry().get_model_version("radreport-test", challenger).tags
    assert tags["gate.reason"].startswith("floor rougeL") and zenml_stage(tags) == "staging"
    nearest = float(tags["baseline.nearest_neighbour.rougeL"])
    assert f"does not beat nearest_neighbour on rougeL: {float(tags['metric.rougeL']):.4f} <= {nearest:.4f}" in tags["gate.reason"]
    assert {"constant", "copy_input", "positive_sentences", "base"} <= {k.split(".")[1] for k in tags if k.startswith("baseline.")}
    capsys.readouterr()
    main(["models", "--name", "radreport-test"])
    out = capsys.readouterr().out
    assert "challenger" in out and "does not beat nearest_neighbour on rougeL" in out


def test_human_eval_sheet_is_blinded(stack):
    run = latest_run()
    sheet = run.steps["export_human_eval"].outputs["rater_sheet"][0].load()
    key = run.steps["export_human_eval"].outputs["unblinding_key"][0].load()
    assert "model" not in " ".join(sheet.columns) and "radiologist" not in " ".join(sheet.columns)
    assert set(key["case_id"]) == set(sheet["case_id"])
    assert set(key["A"]) | set(key["B"]) <= {"model", "radiologist"}


def test_significance_rule_compares_per_example_scores_of_both_runs(stack, tmp_path):
    import json

    from radreport.registry.audit import entries

    model = registry().get_registered_model("radreport-test")
    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump({"promotion": {"floors": {}, "margins": {"rougeL": 1.0}, "significance": 0.05}}))
    main(["promote", str(model.aliases["challenger"]), "--name", "radreport-test", "--config", str(policy)])
    entry = entries(registry(), "radreport-test")[-1]
    check = next(c for c in entry["checks"] if "significance" in c)
    p_value = float(re.search(r"p=([0-9.e-]+)", check).group(1))  # compared on the same examples: a number
    assert check.startswith("FAIL: ") and p_value >= 0.05  # the rule itself refused: no real difference
    assert entry["result"] == "challenger"


def test_promote_force_and_rollback_are_on_record(stack, capsys):
    import json

    from radreport.registry.audit import entries

    model = registry().get_registered_model("radreport-test")
    champion, challenger = int(model.aliases["champion"]), int(model.aliases["challenger"])
    with pytest.raises(SystemExit, match="needs --reason"):
        main(["promote", str(challenger), "--name", "radreport-test", "--force"])
    main(["promote", str(challenger), "--name", "radreport-test", "--force", "--reason", "radiologist sign-off"])
    assert registry().get_registered_model("radreport-test").aliases["champion"] == challenger
    main(["rollback", "--name", "radreport-test", "--reason", "regression found"])
    model = registry().get_registered_model("radreport-test")
    assert model.aliases["champion"] == champion and model.aliases["challenger"] == challenger
    trail = [e for e in entries(registry(), "radreport-test") if e["action"] != "intent"]
    assert [e["action"] for e in trail[-2:]] == ["force", "rollback"]
    assert trail[-2]["reason"] == "forced: radiologist sign-off" and trail[-2]["by"]
    assert trail[-1]["reason"].startswith(f"rollback from v{challenger}")
    assert {"gate", "force", "rollback"} <= {e["action"] for e in trail}


def test_two_promotions_at_once_leave_one_consistent_champion(stack, tiny_config, sample_path, tmp_path):
    """Two processes gate two versions at the same moment, by a policy both pass: the lock serialises them, so the
    second decision compares against the first's winner (unlocked, both would read the same champion, or the
    compare-and-set would refuse the second)."""
    import subprocess
    import sys

    from radreport.registry.audit import entries as trail
    from radreport.registry.history import champion_history

    main(["run", "--config", tiny_config(learning_rate=3e-4), "--data", str(sample_path)])  # a third version
    policy = tmp_path / "everyone_passes.yaml"
    policy.write_text(yaml.safe_dump({"promotion": {"floors": {}, "margins": {"rougeL": 1.0}, "beat_baselines": []}}))
    before = len(trail(registry(), "radreport-test"))
    champion = int(registry().get_registered_model("radreport-test").aliases["champion"])
    versions = [int(v.version) for v in registry().search_model_versions("name='radreport-test'")
                if int(v.version) != champion][:2]
    assert len(versions) == 2
    procs = [subprocess.Popen([sys.executable, "run.py", "promote", str(v), "--name", "radreport-test", "--config",
                               str(policy)], cwd=ROOT, env=os.environ.copy())
             for v in versions]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    entries = [e for e in trail(registry(), "radreport-test")[before:] if e["action"] != "intent"]  # each decision writes its intent first
    assert [e["action"] for e in entries] == ["gate", "gate"] and all(e["result"] == "champion" for e in entries)
    first, second = entries
    assert int(first["champion_version"]) == champion and int(second["champion_version"]) == int(first["version"])
    model = registry().get_registered_model("radreport-test")
    assert int(model.aliases["champion"]) == int(second["version"])
    assert champion_history(registry(), "radreport-test")[-1] == int(second["version"])


def test_evaluate_prints_every_system_as_json(stack, tiny_config, sample_path, capsys):
    import json

    capsys.readouterr()
    main(["evaluate", "--name", "radreport-test", "--config", tiny_config(), "--data", str(sample_path),
          "--split", "test", "--max-examples", "6", "--json"])
    systems = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(systems) == {"model", "constant", "nearest_neighbour", "copy_input", "positive_sentences", "base"}
    assert all({"rougeL", "bleu4", "clinical_f1_micro", "abnormal_recall", "distinct_outputs"} <= set(s)
               for s in systems.values())
    assert systems["constant"]["distinct_outputs"] == 1


def test_generate_with_the_champion_and_show_its_lineage(stack, tmp_path, capsys):
    import json

    good, bad, out = tmp_path / "in.jsonl", tmp_path / "bad.jsonl", tmp_path / "out.jsonl"
    good.write_text('{"id": "a", "findings": "The lungs are clear."}\n{"id": "b", "findings": "Small left effusion."}\n')
    main(["generate", "--name", "radreport-test", "--input", str(good), "--output", str(out), "--max-new-tokens", "4"])
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    champion = registry().get_registered_model("radreport-test").aliases["champion"]
    assert [r["id"] for r in rows] == ["a", "b"] and all(r["model"] == f"radreport-test/v{champion}" for r in rows)
    assert all(isinstance(r["generated"], str) for r in rows)
    bad.write_text('{"findings": "ok"}\n{not json\n')
    with pytest.raises(SystemExit, match=r"bad.jsonl:2: invalid JSON"):
        main(["generate", "--name", "radreport-test", "--input", str(bad), "--output", str(out)])

    capsys.readouterr()
    main(["lineage", "--name", "radreport-test"])
    out = capsys.readouterr().out
    assert f"radreport-test v{champion}  aliases: champion" in out
    assert "MLflow run" in out and "ZenML run" in out and "fingerprint" in out and "decision" in out


def test_the_champion_is_an_mlflow_model_that_loads_predicts_and_serves(stack, tmp_path):
    """`models:/NAME@champion` with MLflow's own tools: pyfunc load + predict, `mlflow models serve` (a subprocess
    on a free loopback port, --env-manager local), and the model card as the version's description."""
    import json
    import subprocess
    import sys
    import time

    import httpx
    import mlflow
    import pandas as pd

    from ops.stack import tracking_uri
    from tests.serving import free_port

    findings = ["The heart is enlarged. Small right pleural effusion.", "The lungs are clear."]
    mlflow.set_tracking_uri(tracking_uri())
    mlflow.set_registry_uri(tracking_uri())
    model = mlflow.pyfunc.load_model("models:/radreport-test@champion")
    assert model.metadata.get_input_schema().input_names() == ["findings"]
    predicted = list(model.predict(pd.DataFrame({"findings": findings}), params={"max_new_tokens": 4}))
    assert len(predicted) == 2 and all(isinstance(p, str) for p in predicted)
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text("".join(json.dumps({"findings": f}) + "\n" for f in findings))
    main(["generate", "--name", "radreport-test", "--input", str(source), "--output", str(out), "--max-new-tokens", "4"])
    assert [json.loads(line)["generated"] for line in out.read_text().splitlines()] == predicted

    champion = registry().get_registered_model("radreport-test").aliases["champion"]
    card = registry().get_model_version("radreport-test", champion).description
    tags = registry().get_model_version("radreport-test", champion).tags
    assert "## Intended use" in card and "## Evaluation" in card and f"{float(tags['metric.rougeL']):.4f}" in card
    assert "nearest_neighbour" in card and tags["gate.decision"] in card

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "mlflow", "models", "serve", "-m", "models:/radreport-test@champion",
                               "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)],
                              env={**os.environ, "MLFLOW_TRACKING_URI": tracking_uri(),  # it execs `uvicorn`:
                                   "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"})
    try:
        for _ in range(240):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/ping", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        answer = httpx.post(f"http://127.0.0.1:{port}/invocations", timeout=120, json={
            "dataframe_split": {"columns": ["findings"], "data": [[f] for f in findings]},
            "params": {"max_new_tokens": 4}})
        assert answer.status_code == 200, answer.text
        assert answer.json()["predictions"] == predicted
    finally:
        server.terminate()
        server.wait(30)


# Run in a fresh process that cannot import the checkout's `radreport` (the editable install's finder removed, the
# working directory elsewhere): the model must bring its own code. Prints the distributions whose modules it imported.
LOAD_WITHOUT_THE_PROJECT = """
import sys
sys.meta_path = [f for f in sys.meta_path if "__editable__" not in getattr(f, "__module__", "")]
sys.path = [p for p in sys.path if p not in ("", "{root}")]
try:
    import radreport
    raise SystemExit("radreport importable outside the model: " + str(radreport.__path__))
except ImportError:
    pass
import json, importlib.metadata as md, mlflow, pandas as pd
model = mlflow.pyfunc.load_model("models:/radreport-test@champion")
print(json.dumps(model.predict(pd.DataFrame({{"findings": ["The lungs are clear."]}}), params={{"max_new_tokens": 2}})))
print(model.unwrap_python_model().files.name)
owners = md.packages_distributions()
top = {{name.split(".")[0] for name in sys.modules}}
print(json.dumps(sorted({{d for name in top for d in owners.get(name, [])}})))
"""


# Imported only because they happen to be installed here (`try: import x` in peft, httpcore, urllib3, starlette,
# mlflow's tracing): the model loads and predicts without them.
SOFT_IMPORTS = {"bitsandbytes", "dill", "opentelemetry-instrumentation", "opentelemetry-instrumentation-logging",
                "outcome", "pysocks", "python-multipart", "sniffio", "sortedcontainers", "trio"}


def distribution_closure(names: set[str]) -> set[str]:
    """Every distribution the named ones require, transitively (as installed here)."""
    import importlib.metadata as md
    import re

    from packaging.requirements import Requirement

    seen, todo = set(), list(names)
    while todo:
        name = re.sub(r"[-_.]+", "-", todo.pop()).lower()
        if name in seen:
            continue
        seen.add(name)
        try:
            todo += [Requirement(r).name for r in md.requires(name) or [] if "extra ==" not in r]
        except md.PackageNotFoundError:
            pass
    return seen


def test_the_registered_model_carries_its_code_and_pins_every_requirement(stack, tmp_path):
    """Nothing a loader installs from the requirements may be a stranger's package (`radreport` on PyPI is another
    project) or a version other than the one that logged it; the model loads and predicts without the checkout, and
    leaves no copy of itself behind."""
    import importlib.metadata as md
    import json
    import re
    import subprocess
    import sys

    import mlflow

    from ops.stack import tracking_uri

    champion = registry().get_registered_model("radreport-test").aliases["champion"]
    source = registry().get_model_version("radreport-test", champion).source
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=str(tmp_path),
                                                     tracking_uri=tracking_uri()))
    lines = [line for line in (local / "requirements.txt").read_text().splitlines() if line.strip()]
    pins = dict(line.split("==") for line in lines)
    assert all("==" in line for line in lines) and "radreport" not in pins
    assert {name: md.version(name) for name in pins} == pins  # each pinned to the version installed here
    assert (local / "code" / "radreport" / "serving" / "models.py").exists()

    script = LOAD_WITHOUT_THE_PROJECT.format(root=ROOT)
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "MLFLOW_TRACKING_URI": tracking_uri()})
    assert done.returncode == 0, done.stderr[-3000:]
    predicted, files, imported = done.stdout.strip().splitlines()[-3:]
    assert len(json.loads(predicted)) == 1
    assert not Path(files).exists()  # the load's copy of the adapter went with the process
    normalise = lambda name: re.sub(r"[-_.]+", "-", name).lower()  # noqa: E731
    uncovered = {normalise(d) for d in json.loads(imported)} - distribution_closure(set(pins)) - SOFT_IMPORTS - {"radreport"}
    assert not uncovered, f"imported by the model but not in its requirements: {sorted(uncovered)}"


def test_serve_answers_over_loopback_and_survives_bad_requests(stack):
    import httpx
    import openai

    from radreport.paths import home
    from radreport.serving.models import MARKER

    champion = registry().get_registered_model("radreport-test").aliases["champion"]
    leftover = home() / "serving" / f"radreport-test-v{champion}"
    if not (leftover / "manifest.json").exists():  # a download that died half-way, as a killed server leaves it
        (leftover / "step-1").mkdir(parents=True, exist_ok=True)
        (leftover / "tokenizer").mkdir(exist_ok=True)
        (leftover / MARKER).write_text("radreport-test\n")  # what radreport writes first into each download
    with serving("--name", "radreport-test", "--max-batch", "4", "--max-chars", "500") as (url, health):
        assert health.json() == {"status": "ok", "model": "radreport-test", "version": int(champion),
                                 "task": "findings_to_impression"}
        ok = httpx.post(f"{url}/v1/generate", json={"findings": ["The lungs are clear.", "Small effusion."],
                                                    "max_new_tokens": 4}, timeout=60)
        assert ok.status_code == 200 and len(ok.json()["impressions"]) == 2
        bad = {
            "not json": httpx.post(f"{url}/v1/generate", content=b"{not json", timeout=10),
            "no texts": httpx.post(f"{url}/v1/generate", json={"findings": []}, timeout=10),
            "unknown field": httpx.post(f"{url}/v1/generate", json={"findings": ["x"], "temperature": 2}, timeout=10),
            "too many": httpx.post(f"{url}/v1/generate", json={"findings": ["x"] * 5}, timeout=10),
            "too long": httpx.post(f"{url}/v1/generate", json={"findings": ["x" * 501]}, timeout=10),
            "empty text": httpx.post(f"{url}/v1/generate", json={"findings": ["  "]}, timeout=10),
            "body too big": httpx.post(f"{url}/v1/generate", content=b"x" * 300_000, timeout=10),
        }
        assert {name: r.status_code for name, r in bad.items()} == {**dict.fromkeys(bad, 422), "body too big": 413}
        assert "findings[0] has 501 characters" in bad["too long"].text
        assert httpx.get(f"{url}/health", timeout=5).status_code == 200  # still up
        api = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
        assert {m.id for m in api.models.list().data} == {f"radreport-test@{champion}", "radreport-test@champion"}
        chat = api.chat.completions.create(model="radreport-test@champion", max_tokens=4,
                                           messages=[{"role": "user", "content": "The lungs are clear."}])
        one = httpx.post(f"{url}/v1/generate", json={"findings": ["The lungs are clear."], "max_new_tokens": 4},
                         timeout=60)
        assert chat.choices[0].message.content == one.json()["impressions"][0]  # the task's prompt, greedy


def test_dashboards_serve_the_runs_metrics_and_champion(stack, browser, tmp_path):
    import httpx
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from ops.dashboard import mlflow_ui, running, zenml_dashboard

    mlflow, zenml = mlflow_ui(free_port()), zenml_dashboard(free_port())
    champion = registry().get_registered_model("radreport-test").aliases["champion"]
    with running([mlflow, zenml], tmp_path / "logs"):
        api = f"{mlflow.url}/api/2.0/mlflow"
        experiment = httpx.get(f"{api}/experiments/get-by-name", params={"experiment_name": "radreport_training"},
                               timeout=30).json()["experiment"]
        runs = httpx.post(f"{api}/runs/search", json={"experiment_ids": [experiment["experiment_id"]]},
                          timeout=30).json()["runs"]
        assert any({"eval_rougeL", "eval_bertscore_f1", "best_step"} <= {m["key"] for m in r["data"].get("metrics", [])} for r in runs)
        model = httpx.get(f"{api}/registered-models/get", params={"name": "radreport-test"},
                          timeout=30).json()["registered_model"]
        assert {"alias": "champion", "version": str(champion)} in model["aliases"]
        assert "<title>MLflow</title>" in httpx.get(mlflow.url, timeout=30).text

        zenml_runs = httpx.get(f"{zenml.url}/api/v1/runs", params={"size": 50}, timeout=30).json()["items"]
        assert any(r["name"].startswith("radreport_training") and r["body"]["status"] == "completed"
                   for r in zenml_runs)
        assert "<title>ZenML Dashboard</title>" in httpx.get(zenml.url, timeout=30).text

        browser.get(f"{mlflow.url}/#/models/radreport-test")
        body = browser.find_element(By.TAG_NAME, "body")
        WebDriverWait(browser, 60).until(lambda _: "champion" in body.text and f"Version {champion}" in body.text)
        browser.save_screenshot(str(tmp_path / "mlflow-model.png"))
        assert (tmp_path / "mlflow-model.png").stat().st_size > 10_000
        browser.get(f"{mlflow.url}/#/models/radreport-test/versions/{champion}")  # the model card, rendered
        body = browser.find_element(By.TAG_NAME, "body")
        WebDriverWait(browser, 60).until(lambda _: "Intended use" in body.text and "Limitations" in body.text)


def test_the_zenml_dashboard_answers_no_foreign_host_or_origin(stack, tmp_path):
    """Any web page the user visits could otherwise read report artifacts from the unauthenticated local server
    (cross-origin, or through DNS rebinding with a foreign Host) and mint download tokens."""
    import httpx

    from ops.dashboard import running, zenml_dashboard

    artifact = latest_run().steps["export_human_eval"].outputs["rater_sheet"][0].id
    zenml = zenml_dashboard(free_port())
    visualize = f"{zenml.url}/api/v1/artifact_versions/{artifact}/visualize?index=0"
    token = f"{zenml.url}/api/v1/artifact_versions/{artifact}/download-token"
    port = zenml.port
    with running([zenml], tmp_path / "logs"):
        assert httpx.get(visualize, timeout=30).status_code == 200  # the route serves the artifact's text to itself
        attacks = {
            "foreign origin": httpx.get(visualize, headers={"Origin": "https://evil.example"}, timeout=30),
            "foreign host": httpx.get(visualize, headers={"Host": f"evil.example:{port}"}, timeout=30),
            "token, foreign origin": httpx.get(token, headers={"Origin": "https://evil.example"}, timeout=30),
            "token, foreign host": httpx.get(token, headers={"Host": f"evil.example:{port}"}, timeout=30),
            "preflight": httpx.options(visualize, timeout=30, headers={
                "Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}),
        }
        assert {name: r.status_code for name, r in attacks.items()} == dict.fromkeys(attacks, 403)
        assert not any("access-control-allow-origin" in r.headers for r in attacks.values())
        assert all(len(r.content) < 100 for r in attacks.values())  # a reason, no data


def test_export_the_adapter_a_merged_model_and_refuse_a_4bit_base(stack, tiny_model, tmp_path, capsys):
    import json
    import shutil

    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    main(["export", "--name", "radreport-test", "--out", str(tmp_path / "adapter")])
    assert {"adapter_model.safetensors", "adapter_config.json", "radreport.json", "tokenizer"} <= {
        p.name for p in (tmp_path / "adapter").iterdir()}

    main(["export", "--name", "radreport-test", "--merged", "--dtype", "float32", "--out", str(tmp_path / "merged")])
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged", dtype=torch.float32)
    base = AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32)
    weight = "model.layers.0.self_attn.q_proj.weight"
    assert not torch.equal(merged.state_dict()[weight], base.state_dict()[weight])  # the adapter is in the weights
    adapted = PeftModel.from_pretrained(base, tmp_path / "adapter")
    ids = torch.tensor([[1, 5, 9, 42, 7, 3]])
    with torch.no_grad():
        assert torch.allclose(merged(ids).logits, adapted(ids).logits, atol=1e-5)
    assert json.loads((tmp_path / "merged" / "radreport.json").read_text())["merged_into"] == str(tiny_model)

    stored_4bit = tmp_path / "base-bnb-4bit"
    shutil.copytree(tiny_model, stored_4bit)
    config = json.loads((stored_4bit / "config.json").read_text())
    config["quantization_config"] = {"quant_method": "bitsandbytes", "load_in_4bit": True, "bnb_4bit_quant_type": "nf4"}
    (stored_4bit / "config.json").write_text(json.dumps(config))
    with pytest.raises(SystemExit, match=r"base-bnb-4bit' is stored bitsandbytes 4-bit .*pass --base PATH"):
        main(["export", "--name", "radreport-test", "--merged", "--base", str(stored_4bit),
              "--out", str(tmp_path / "refused")])
    assert not (tmp_path / "refused").exists()


def test_ct_mri_recipe_trains_evaluates_per_region_and_gates_without_clinical_figures(stack, tiny_model, tmp_path):
    """configs/ct_mri.yaml end to end on its synthetic sample (a nested JSON export), the tiny model standing in for
    Gemma: regions by the CT/MRI scheme, no clinical figure claimed, the clinical gate rule skipped on record."""
    config = yaml.safe_load((ROOT / "configs" / "ct_mri.yaml").read_text())
    config["train"].update({"model": str(tiny_model), "epochs": None, "max_steps": 2, "save_steps": 2, "batch_size": 4})
    config["eval"].update({"max_examples": 6, "max_new_tokens": 8})
    config["human_eval"] = {"cases": 4}
    # the tiny random model cannot beat the baselines on ROUGE-L; the clinical rule stays, to be skipped
    config["promotion"].update({"model_name": "radreport-ct-mri-test", "floors": {"rougeL": 0.0}, "margins": {},
                                "beat_baselines": ["clinical_f1_micro"], "min_human_rating": None})
    path = tmp_path / "ct_mri.yaml"
    path.write_text(yaml.safe_dump(config))
    from radreport.registry.audit import decisions_of

    summary = main(["run", "--config", str(path)])
    assert summary.decision["alias"] == "champion" and "clinical_f1_micro" not in summary.scores.columns
    version = registry().get_model_version("radreport-ct-mri-test", "1")
    assert version.tags["metrics_not_applicable"].startswith("clinical_f1_micro")
    assert not any(key.startswith("metric.clinical") or key.endswith("abnormal_recall") for key in version.tags)
    checks = decisions_of(registry(), "radreport-ct-mri-test", 1)[-1]["checks"]
    assert "skipped: baselines clinical_f1_micro, not applicable to the candidate's reports" in checks
    run = latest_run()
    evaluation = run.steps["evaluate_checkpoints"].outputs["evaluation"][0].load()
    assert set(evaluation.regions["region"]) <= {"brain", "spine", "chest", "abdomen", "pelvis", "musculoskeletal",
                                                 "others"} and len(set(evaluation.regions["region"])) >= 4
    assert any(note.startswith("clinical: not applicable to ") and "covers chest_xray" in note for note in evaluation.notes)
    records = run.steps["format_alpaca"].outputs["alpaca_records"][0].load()
    assert set(records["modality"]) == {"ct", "mri"} and not records["instruction"].str.contains("chest X-ray").any()
