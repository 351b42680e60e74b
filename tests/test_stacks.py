"""The cluster recipe: its ZenML run settings validate and attach to the pipeline, GPUs go to training (through the
step operator) and evaluation only, and every step asks for its resources."""

import re
from pathlib import Path

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
    registered = set(re.findall(r"^zenml ([a-z-]+) register", recipe, flags=re.M))
    assert registered == {"artifact-store", "container-registry", "image-builder", "experiment-tracker",
                          "model-registry", "orchestrator", "step-operator", "stack"}
    assert re.search(r"stack register radreport-k8s -o k8s -a radreport_bucket -c radreport_images "
                     r"-i radreport_builder \\\n\s+-e mlflow_tracker -r mlflow_registry -s k8s_gpu", recipe)
    assert "{{mlflow_auth.password}}" in recipe and "--flavor=kubernetes" in recipe
