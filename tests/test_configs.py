"""Every shipped pipeline config validates and opens with the command that runs it."""

from pathlib import Path

import pytest

from radreport.config import PipelineConfig, VisionPipelineConfig, load_config

CONFIGS = sorted((Path(__file__).resolve().parent.parent / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_config_validates_and_names_its_command(path):
    assert path.read_text().startswith(f"# python run.py run --config configs/{path.name}")
    config = load_config(path)
    assert isinstance(config, VisionPipelineConfig if path.name.startswith("llava") else PipelineConfig)


def test_an_unknown_key_fails_naming_the_file_and_field(tmp_path):
    path = tmp_path / "typo.yaml"
    path.write_text("images: {path: imgs}\ntrain: {model: m, lora_rank: 8}\n")
    with pytest.raises(SystemExit, match=r"typo.yaml: train.lora_rank: Extra inputs are not permitted"):
        load_config(path)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_gates_against_the_baselines(path):
    assert {"rougeL", "clinical_f1_micro"} <= set(load_config(path).promotion.beat_baselines)
