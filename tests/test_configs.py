"""Every shipped pipeline config validates and opens with the command that runs it."""

from pathlib import Path

import pytest

from radreport.errors import RadreportError
from radreport.config import PipelineConfig, VisionPipelineConfig, load_config

CONFIGS = sorted((Path(__file__).resolve().parent.parent / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_config_validates_and_names_its_command(path):
    command = "prefer" if "preference" in path.name else "run"
    assert path.read_text().startswith(f"# python run.py {command} --config configs/{path.name}")
    config = load_config(path)
    assert isinstance(config, VisionPipelineConfig if path.name.startswith("llava") else PipelineConfig)


def test_an_unknown_key_fails_naming_the_file_and_field(tmp_path):
    path = tmp_path / "typo.yaml"
    path.write_text("images: {path: imgs}\ntrain: {model: m, lora_rank: 8}\n")
    with pytest.raises(RadreportError, match=r"typo.yaml: train.lora_rank: Extra inputs are not permitted"):
        load_config(path)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_gates_against_the_baselines(path):
    """On ROUGE-L, and on clinical F1 wherever the config scores it (the structuring model copies findings into
    JSON: copying the findings ties it clinically, so its gate is on n-grams only)."""
    config = load_config(path)
    wanted = {"rougeL", "clinical_f1_micro"} if "clinical" in config.eval.metrics else {"rougeL"}
    assert wanted <= set(config.promotion.beat_baselines)


@pytest.mark.parametrize("text, message", [
    ("- data\n- train\n", "a config is a mapping of sections"),
    ("train: {lora_r: true}\n", "train.lora_r: Value error, expected a number, got true/false"),
    ("promotion: {floors: {rougeL: .nan}}\n", "promotion.floors.rougeL: Input should be a finite number"),
    ("promotion: {floors: {rougeL: true}}\n", "promotion.floors: Value error, rougeL: expected a number"),
    ("promotion: {model_name: ../../x}\n", "promotion.model_name: Value error, may not contain '/'"),
    ("train: {lora_r: 0, learning_rate: x}\n", "train.lora_r: Input should be greater than 0\n.*train.learning_rate"),
])
def test_bad_configs_fail_naming_every_field_not_with_a_traceback(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(RadreportError, match=message):
        load_config(path)


def test_an_empty_section_means_its_defaults(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("data:\ntrain:\n")
    assert load_config(path, data_path="reports.csv").data.path == "reports.csv"
    assert load_config(path).train.lora_r == 16


def test_config_is_a_leaf():
    """Reading a config loads no stage: the vocabulary imports nothing from radreport, and config only it, the errors
    and the model-name check (in a fresh interpreter, so this session's other imports cannot hide a new edge)."""
    import subprocess
    import sys

    script = ("import sys\n"
              "def loaded(): return sorted(m for m in sys.modules if m.startswith('radreport'))\n"
              "import radreport.vocabulary\nprint(loaded())\nimport radreport.config\nprint(loaded())\n")
    root = Path(__file__).resolve().parent.parent
    vocabulary, config = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True,
                                        check=True).stdout.splitlines()
    assert vocabulary == str(["radreport", "radreport.vocabulary"])
    assert config == str(["radreport", "radreport.config", "radreport.errors", "radreport.registry",
                          "radreport.registry.names", "radreport.vocabulary"])
