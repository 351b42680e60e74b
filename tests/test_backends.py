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
def test_unsloth_is_imported_before_trl_transformers_and_peft(tmp_path, command):
    """Through run.py as a user runs it, with select_backend answering unsloth (this machine has no GPU) and a
    stand-in unsloth that records what was imported before it."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    report = tmp_path / "imported_before.json"
    driver = (f"import sys; sys.path[:0] = [{str(root / 'tests/fixtures/fake_unsloth')!r}, {str(root)!r}]\n"
              "import radreport.training.backends as b; b.select_backend = lambda requested, env=None: ('unsloth', 'test')\n"
              f"from run import main; main(['--home', {str(tmp_path / 'home')!r}, {command!r}, '--config', "
              f"{str(root / 'configs/demo.yaml')!r}])\n")
    done = subprocess.run([sys.executable, "-c", driver], env={**os.environ, "FAKE_UNSLOTH_REPORT": str(report)},
                          capture_output=True, text=True, timeout=300)
    assert "fake unsloth: recorded the import order" in done.stderr, done.stderr[-2000:]
    assert json.loads(report.read_text()) == []


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


def test_unsloth_trains_in_a_child_that_imports_it_first_and_this_process_never_does(tmp_path, monkeypatch):
    """Unsloth's import patches transformers' model classes process-wide: the evaluation step, in the local
    orchestrator's one process, would run its code. A fake `unsloth` (no GPU here) records what the child had
    imported when it was imported; the child's training stops there."""
    import json
    import os
    import subprocess
    import sys

    from radreport.config import TrainConfig
    from radreport.training import distributed

    fake = tmp_path / "fake" / "unsloth"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(
        "import json, os, sys\n"
        "open(os.environ['UNSLOTH_SAW'], 'w').write(json.dumps(sorted(m for m in ('trl', 'transformers', 'peft')"
        " if m in sys.modules)))\n"
        "class FastLanguageModel:\n"
        "    @staticmethod\n"
        "    def from_pretrained(**kwargs):\n"
        "        raise SystemExit('fake unsloth: no GPU')\n")
    folder = tmp_path / "exchange"
    folder.mkdir()
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")  # resolves as a local model folder; never loaded
    (folder / "config.json").write_text(TrainConfig(backend="unsloth", model=str(tmp_path / "model")).model_dump_json())
    import pandas as pd

    pd.DataFrame({"split": ["train"], "instruction": ["i"], "input": ["x"], "output": ["y"]}).to_parquet(
        folder / "records.parquet")
    child = ("import radreport.training.backends as b; b.select_backend = lambda *a, **k: ('unsloth', 'test'); "
             f"from radreport.training.worker import main; from pathlib import Path; "
             f"main(Path({str(folder)!r}), 'findings_to_impression', Path({str(tmp_path / 'out')!r}))")
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "UNSLOTH_SAW": str(tmp_path / "saw.json"),
                               "PYTHONPATH": f"{fake.parent}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"})
    assert "fake unsloth: no GPU" in done.stderr, done.stderr[-2000:]
    assert json.loads((tmp_path / "saw.json").read_text()) == []  # imported before trl, transformers and peft

    children = []
    monkeypatch.setattr(distributed, "select_backend", lambda *a, **k: ("unsloth", "test"))
    monkeypatch.setattr(distributed, "train_in_children", lambda *a: children.append(a))
    distributed.train(None, TrainConfig(backend="unsloth"), "findings_to_impression", tmp_path / "out")
    assert len(children) == 1 and "unsloth" not in sys.modules
    assert distributed.launch_command("unsloth", TrainConfig(backend="unsloth"), 0) == [
        sys.executable, "-m", "radreport.training.worker"]
