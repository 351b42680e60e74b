"""The cluster recipe: its ZenML run settings validate and attach to the pipeline, GPUs go to training (through the
step operator) and evaluation only, and every step asks for its resources."""

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
RUN_SETTINGS = ROOT / "configs" / "stacks" / "kubernetes_run.yaml"


def test_kubernetes_run_settings_validate_and_declare_resources_per_step(stack):
    from zenml.config.pipeline_run_configuration import PipelineRunConfiguration
    from zenml.config.resource_settings import ResourceSettings

    from pipelines.training import training_pipeline

    settings = PipelineRunConfiguration.model_validate(yaml.safe_load(RUN_SETTINGS.read_text()))
    configured = training_pipeline.with_options(config_path=str(RUN_SETTINGS))  # builds the options, runs nothing
    assert configured.configuration.settings["docker"].local_project_install_command
    step_names = {"ingest_reports", "structure_findings", "format_alpaca", "train_lora", "evaluate_checkpoints",
                  "export_human_eval", "promote_model"}
    assert set(settings.steps) == step_names
    resources = {name: ResourceSettings.model_validate(step.settings["resources"].model_dump())
                 for name, step in settings.steps.items()}
    gpus = {name: r.gpu_count or 0 for name, r in resources.items()}
    assert gpus == {**dict.fromkeys(step_names, 0), "train_lora": 1, "evaluate_checkpoints": 1}
    assert {name for name, step in settings.steps.items() if step.step_operator} == {"train_lora"}
    assert all(r.memory and r.cpu_count for r in resources.values())


def test_stack_recipe_registers_every_component_and_keeps_secrets_out():
    recipe = (ROOT / "configs" / "stacks" / "kubernetes.sh").read_text()
    assert recipe.startswith("#!/usr/bin/env bash\n# bash configs/stacks/kubernetes.sh")
    assert 'source "$(dirname "$0")/team.sh"\nteam_tracker' in recipe  # the tracker and registry lines, shared
    recipe += (ROOT / "configs" / "stacks" / "team.sh").read_text().split("\nif [[")[0]
    registered = set(re.findall(r"^\s*zenml ([a-z-]+) register", recipe, flags=re.M))
    assert registered == {"artifact-store", "container-registry", "image-builder", "experiment-tracker",
                          "model-registry", "orchestrator", "step-operator", "stack"}
    assert re.search(r"stack register radreport-k8s -o k8s -a radreport_bucket -c radreport_images "
                     r"-i radreport_builder \\\n\s+-e mlflow_tracker -r mlflow_registry -s k8s_gpu", recipe)
    assert "{{mlflow_auth.password}}" in recipe and "--flavor=kubernetes" in recipe


def test_a_stack_the_user_activated_stays_active_and_names_its_mlflow_store(stack, tmp_path, monkeypatch, capsys):
    """`run.py run` bootstraps first: it once switched every user's stack back to the embedded one."""
    from zenml.client import Client
    from zenml.enums import StackComponentType as T

    from cli import main
    from ops.stack import STACK_NAME, bootstrap, mlflow_target

    client = Client()
    uri = f"sqlite:///{tmp_path / 'team.db'}"
    client.create_stack_component("team_tracker", "mlflow", T.EXPERIMENT_TRACKER, {"tracking_uri": uri})
    client.create_stack("team-stack", components={T.ORCHESTRATOR: "local_orchestrator",
                                                  T.ARTIFACT_STORE: "local_artifacts",
                                                  T.EXPERIMENT_TRACKER: "team_tracker"})
    client.activate_stack("team-stack")
    try:
        assert bootstrap() == "team-stack" and client.active_stack_model.name == "team-stack"
        target = mlflow_target()
        assert (target.tracking_uri, target.registry_uri) == (uri, uri) and "team_tracker" in target.source
        capsys.readouterr()
        main(["stack"])
        out = capsys.readouterr().out
        assert "stack            team-stack" in out and f"MLflow tracking  {uri}" in out
        assert "local_orchestrator (local)" in out
        main(["stack", "--local"])  # the way back to the embedded stack
        assert client.active_stack_model.name == STACK_NAME
    finally:
        client.activate_stack(STACK_NAME)
        client.delete_stack("team-stack")
        client.delete_stack_component("team_tracker", T.EXPERIMENT_TRACKER)


def test_an_mlflow_server_that_does_not_answer_is_named_not_replaced(stack, monkeypatch):
    from ops.stack import MlflowTarget, checked

    from radreport.errors import RadreportError

    dead = MlflowTarget("http://alice:s3cret@127.0.0.1:9/", "http://alice:s3cret@127.0.0.1:9/", "MLFLOW_TRACKING_URI")
    with pytest.raises(RadreportError, match=r"MLflow server http://alice:\*\*\*@127.0.0.1:9/ \(from "
                                             r"MLFLOW_TRACKING_URI\) is unreachable") as error:
        checked(dead)
    assert "s3cret" not in str(error.value)
    with pytest.raises(RadreportError, match=r"MLflow URI 'htp:/x' \(from x\) is not a URI"):
        checked(MlflowTarget("htp:/x", "htp:/x", "x"))


def test_a_zenml_client_the_user_chose_is_kept(tmp_path):
    from ops.env import users_zenml_client

    assert users_zenml_client({"ZENML_CONFIG_PATH": "/somewhere"}) == "ZENML_CONFIG_PATH"
    assert users_zenml_client({"ZENML_STORE_URL": "http://127.0.0.1:8080"}) == "ZENML_STORE_URL"
    assert users_zenml_client({"XDG_CONFIG_HOME": str(tmp_path)}) is None
    (tmp_path / "zenml").mkdir()
    (tmp_path / "zenml" / "config.yaml").write_text("store:\n  type: rest\n  url: https://zenml.example.org\n")
    assert users_zenml_client({"XDG_CONFIG_HOME": str(tmp_path)}).startswith("zenml login")
