"""Every GPU script's --smoke run: the same code on CPU with the tiny test models, hf-qlora in 4-bit for real
(bitsandbytes runs 4-bit on CPU). Unsloth cannot run here (it needs an NVIDIA GPU): the JSON says so."""

import json
import subprocess
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent


def smoke(script: str) -> dict:
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--smoke"], capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_train_gpu_smoke_trains_hf_qlora_and_times_only_the_steps_after_warmup(iu_xray):
    figures = smoke("train_gpu.py")
    assert figures["smoke"] and figures["hf_qlora_tokens_per_s"] > 0 and figures["unsloth_tokens_per_s"] is None
    assert figures["mean_tokens_per_sequence"] > 0.75 * 256  # sequences filled to the length, not a few hundred
    assert "Unsloth needs an NVIDIA GPU" in figures["failures"]["unsloth"]


def test_train_vlm_gpu_smoke_trains_and_reports(iu_images):
    figures = smoke("train_vlm_gpu.py")
    assert figures["smoke"] and figures["step_seconds"] > 0 and figures["images_per_s"] > 0
    assert 0 < figures["trainable_share"] < 1 and "unsloth" in figures["failures"]


def test_gpu_e2e_smoke_runs_the_whole_dag_registers_and_predicts(iu_xray):
    """The whole training DAG (ingest -> train -> evaluate two checkpoints -> register -> pyfunc predict) as the GPU
    run will do it, hf-qlora in 4-bit on this CPU."""
    figures = smoke("gpu_e2e.py")
    assert "error" not in figures, figures
    assert figures["backend"] == "hf-qlora" and figures["registered_version"] >= 1
    assert {"train_lora", "evaluate_checkpoints", "promote_model", "pyfunc_load_and_predict"} <= set(figures["stage_seconds"])
