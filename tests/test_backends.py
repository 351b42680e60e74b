"""Backend selection and its errors (the GPU backends themselves need an NVIDIA GPU; see benchmarks/train_gpu.py)."""

import pytest

from radreport.training.backends import BackendUnavailable, Environment, select_backend

CPU = Environment(cuda=False, unsloth=False, bitsandbytes=True)
GPU = Environment(cuda=True, unsloth=False, bitsandbytes=True)
GPU_UNSLOTH = Environment(cuda=True, unsloth=True, bitsandbytes=True)


def test_auto_prefers_unsloth_then_qlora_then_cpu():
    assert select_backend("auto", GPU_UNSLOTH)[0] == "unsloth"
    assert select_backend("auto", GPU) == ("hf-qlora", "auto: CUDA is present but unsloth is not installed")
    assert select_backend("auto", CPU) == ("cpu-lora", "auto: no CUDA GPU")


@pytest.mark.parametrize("backend, env, message", [
    ("unsloth", CPU, "missing an NVIDIA GPU with CUDA and the unsloth package"),
    ("unsloth", GPU, "missing the unsloth package"),
    ("hf-qlora", CPU, "missing an NVIDIA GPU with CUDA"),
    ("tpu-magic", CPU, "choose one of"),
])
def test_a_backend_that_cannot_run_fails_in_one_line(backend, env, message):
    with pytest.raises(BackendUnavailable, match=message) as err:
        select_backend(backend, env)
    assert "\n" not in str(err.value)


def test_this_machine_detects_no_gpu():
    env = Environment.detect()
    assert select_backend("cpu-lora", env) == ("cpu-lora", "requested cpu-lora")
    if not env.cuda:
        with pytest.raises(BackendUnavailable):
            select_backend("unsloth", env)


@pytest.mark.parametrize("command", ["run", "train", "retrain"])
def test_unsloth_is_imported_first_in_the_training_worker_and_never_in_run_py(tmp_path, command):
    """Through run.py as a user runs it, every process told the backend is unsloth (this machine has no GPU) and a
    stand-in unsloth that records, in each process that imports it, what came before it. Unsloth patches
    transformers' classes process-wide, so only the training worker may import it, and first."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    report = tmp_path / "imported_before.jsonl"
    fixtures = root / "tests" / "fixtures" / "fake_unsloth"
    done = subprocess.run([sys.executable, "run.py", "--home", str(tmp_path / "home"), command, "--config",
                           "configs/demo.yaml"], cwd=root, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "FAKE_UNSLOTH_REPORT": str(report),
                               "PYTHONPATH": os.pathsep.join([str(fixtures), str(root)])})
    assert "fake unsloth: recorded the import order" in done.stdout + done.stderr, done.stderr[-2000:]
    imports = [json.loads(line) for line in report.read_text().splitlines()]
    assert imports == [{"before": [], "worker": True}]


def test_a_4bit_model_pins_bitsandbytes_and_no_model_names_this_project():
    import importlib.metadata as md

    from radreport.registry.requirements import model_requirements

    qlora = model_requirements({"summary": {"backend": "hf-qlora"}})
    plain = model_requirements({"summary": {"backend": "cpu-lora"}})
    assert f"bitsandbytes=={md.version('bitsandbytes')}" in qlora and not any("bitsandbytes" in r for r in plain)
    assert not any(r.split("==")[0] == "radreport" for r in qlora + plain)


def test_the_gpu_recipe_groups_by_length_and_keeps_padding_free_off_without_a_varlen_kernel(tmp_path):
    """Unsloth turns padding-free batches on by itself; without flash-attn or xformers SDPA then gets one dense mask
    over the whole flattened batch. Checkpointing is the config's choice (the recipe: off)."""
    from radreport.config import load_config
    from radreport.training.lora import has_varlen_attention, sft_args

    recipe = load_config("configs/llama3_8b_unsloth.yaml").train
    assert (recipe.batch_size, recipe.grad_accum, recipe.gradient_checkpointing) == (8, 1, False)
    args = sft_args(recipe, tmp_path, backend="unsloth")
    assert args.padding_free is has_varlen_attention() is False  # neither kernel is installed here
    assert args.train_sampling_strategy == "group_by_length" and not args.gradient_checkpointing


def test_liger_kernels_stay_off_without_cuda_and_off_backends(tmp_path, monkeypatch):
    """Liger's kernels are Triton: without CUDA sft_args never asks for them, whatever the config says, and the tag
    says why (CUDA is hidden, so this holds on a GPU machine too)."""
    import torch

    from radreport.config import TrainConfig
    from radreport.training.lora import liger_kernel, sft_args

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    cfg = TrainConfig(liger_kernel=True)
    assert not sft_args(cfg, tmp_path, backend="hf-qlora").use_liger_kernel
    assert liger_kernel(cfg, "hf-qlora") == (False, "off: no CUDA GPU")
    assert liger_kernel(cfg, "unsloth") == (False, "off: unsloth backend")
    assert liger_kernel(TrainConfig(liger_kernel=False), "hf-qlora") == (False, "off: train.liger_kernel is false")
