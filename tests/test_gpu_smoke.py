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


def test_train_gpu_smoke_trains_hf_qlora_in_both_workloads_and_times_only_the_steps_after_warmup(iu_xray):
    figures = smoke("train_gpu.py")
    assert figures["smoke"] and figures["hf_qlora_tokens_per_s"] > 0 and figures["unsloth_tokens_per_s"] is None
    assert figures["mean_tokens_per_sequence"] > 0.75 * 256  # sequences filled to the length, not a few hundred
    assert "Unsloth needs an NVIDIA GPU" in figures["failures"]["unsloth"]
    long, recipe = figures["workloads"]["long"], figures["workloads"]["recipe"]
    assert long["hf-qlora"]["tokens_per_s"] == figures["hf_qlora_tokens_per_s"]  # the old keys are the long workload's
    for workload in (long, recipe):
        qlora = workload["hf-qlora"]
        steps = qlora["step_seconds"]
        assert 0 < steps["min"] <= steps["median"] <= steps["max"] and qlora["timed_steps"] == 3  # warm-up left out
        assert qlora["tokens_per_s"] > 0 and qlora["peak_allocated_gb"] > 0
        assert qlora["peak_reserved_gb"] is None and qlora["mfu"] is None  # no CUDA allocator, no known peak FLOP/s
        assert qlora["liger_kernel"] is False and "unsloth" not in workload and "unsloth" in workload["failures"]
    assert figures["versions"]["hf-qlora"]["trl"] and figures["shared_environment"] is None  # one backend ran


def test_train_gpu_counts_flops_per_token_by_its_formula():
    """4 N_frozen + 6 N_LoRA + 12 layers hidden seq_len for Llama-3-8B with LoRA r=16 on every projection, and the
    peak FLOP/s only of devices it knows."""
    sys.path.insert(0, str(ROOT))
    from benchmarks.train_gpu import LLAMA3_8B, flops_per_token, peak_bf16_flops

    frozen = 32 * (2 * 4096 * 4096 + 2 * 4096 * 1024 + 3 * 4096 * 14336)
    lora = 32 * 16 * (2 * 8192 + 2 * 5120 + 3 * (4096 + 14336))
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    assert flops_per_token(LLAMA3_8B, 16, targets, 2048) == 4 * frozen + 6 * lora + 12 * 32 * 4096 * 2048
    assert peak_bf16_flops("NVIDIA H100 80GB HBM3") == peak_bf16_flops("NVIDIA H200") == 989e12
    assert peak_bf16_flops("NVIDIA H100 PCIe") is peak_bf16_flops("NVIDIA A100-SXM4-80GB") is None


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
