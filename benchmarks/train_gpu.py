"""Unsloth vs hf-qlora on one NVIDIA GPU, no internet: a Llama-3-8B-shaped model with random weights (speed and
memory do not depend on trained weights), in two workloads, each backend in its own process for each:

- long:   IU X-Ray Alpaca pairs joined into sequences of the full length (2,048 tokens), batch --batch-size, gradient
          checkpointing on (8 x 2,048 tokens of an 8B model's activations): where the backends' kernels differ most;
- recipe: what configs/llama3_8b_unsloth.yaml trains: single IU rows (~130 tokens, not joined), batch 8 x
          accumulation 1, grouped by length, no checkpointing.
Both take everything else (LoRA rank, alpha and targets, optimizer) from that recipe.

    pip install '.[gpu]'        # beside the base dependencies
    python benchmarks/train_gpu.py [--steps 30] [--warmup 3] [--batch-size 8] [--length 2048] [--model-dir DIR]
        [--backends unsloth,hf-qlora] [--workloads long,recipe] [--python unsloth=/other/venv/bin/python]
        [--backend-timeout SECONDS]
    python benchmarks/train_gpu.py --smoke      # the same code on CPU: tiny Llama, hf-qlora in 4-bit for real

Timing: each optimizer step after --warmup, between torch.cuda.synchronize() calls at its start and its end (CUDA
queues work and returns); the batch is fetched before, and logging, saves and evaluation fall outside. Reported:
min/median/max step seconds, and tokens/s = the timed steps' tokens / their summed seconds. Tokens are trl's count
(non-padding tokens); Unsloth's trainer logs none, so where a backend lacks it every backend of that workload uses
timed steps x sequences per step x the examples' mean length ("tokens_counted"), and the ratio compares like with
like. Peak memory: torch.cuda.max_memory_allocated and max_memory_reserved (the allocator's cache too: what the
device had to have free); on a CPU the process's peak resident memory, and no reserved figure.

MFU = tokens/s x FLOPs per token / the device's peak dense bf16 FLOP/s (H100 SXM and H200: 989e12; any other device
n/a), with FLOPs per token = 4 N_frozen + 6 N_LoRA + 12 n_layers hidden seq_len. The frozen decoder linears cost a
forward and an input-gradient pass (2 + 2 FLOPs per parameter), the LoRA weights a weight gradient too (6); attention
scores and their weighted sum cost 4 hidden seq_len per layer forward, x3 with the backward (seq_len: the timed
steps' mean tokens per sequence). Model FLOPs, not hardware FLOPs: the recomputation under gradient checkpointing,
the padding, the embedding lookup and the LM head (trl computes it only at supervised positions) are not counted.

Environments: Unsloth 2026.10 needs transformers<=5.17, trl<=1.15, datasets<5, and the base environment has
transformers 5.23, trl 1.16, so unless hf-qlora also runs in the `gpu` extra's environment the two backends' figures
come from two environments (--python BACKEND=PATH runs a backend with another interpreter). Each backend's torch,
transformers, trl, peft, bitsandbytes, unsloth and liger-kernel versions are in the JSON ("versions"), and
"shared_environment" says whether they are the same.

Targets (issue 35), printed beside the figures: Unsloth >= 1.8x hf-qlora's tokens/s at <= 0.5x its peak memory,
and >= 35% MFU on the long workload. A backend that fails is reported and the others' figures kept. --smoke cannot
run Unsloth (it needs an NVIDIA GPU) and says so in the JSON. Last line: one JSON object: for the long workload
unsloth_tokens_per_s, hf_qlora_tokens_per_s, tokens_per_s_ratio, peak_memory_ratio (allocated),
mean_tokens_per_sequence and failures; device, versions, shared_environment, targets; and workloads: {long: ...,
recipe: ...}, each with per-backend figures (step_seconds min/median/max, tokens_per_s, peak_allocated_gb,
peak_reserved_gb, mfu), its ratios, tokens_counted and failures.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from functools import partial
from pathlib import Path
from statistics import median

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RECIPE = ROOT / "configs" / "llama3_8b_unsloth.yaml"
WORKLOADS = ("long", "recipe")
TARGETS = {"tokens_per_s_ratio_min": 1.8, "peak_memory_ratio_max": 0.5, "long_unsloth_mfu_min": 0.35}
VERSIONED = ("torch", "transformers", "trl", "peft", "bitsandbytes", "unsloth", "liger-kernel")
LLAMA3_8B = dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                 num_key_value_heads=8, vocab_size=128256, max_position_embeddings=8192, rope_theta=500000.0,
                 rms_norm_eps=1e-5, tie_word_embeddings=False)


def build_model(out: Path, smoke: bool) -> Path:
    """Random-weight Llama-3-8B built in bf16 on the GPU (never fp32 first), with a locally trained byte-level
    tokenizer (model vocab stays 128,256); for --smoke the tiny test Llama at width 64, the narrowest that
    bitsandbytes' CPU kernels train in 4 bits under LoRA."""
    from tests.tiny_model import build_tiny_model

    if smoke:
        return build_tiny_model(out, width=64)
    if (out / "config.json").exists():
        return out
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer_dir = build_tiny_model(out.parent / "tokenizer-source")
    config = LlamaConfig(**LLAMA3_8B, bos_token_id=1, eos_token_id=2, pad_token_id=0)
    with torch.device("cuda"):
        model = LlamaForCausalLM._from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(out)
    del model
    torch.cuda.empty_cache()  # the backends run in child processes and need the memory
    AutoTokenizer.from_pretrained(tokenizer_dir).save_pretrained(out)
    return out


def example_tokens(tokenizer, instruction: str, inputs: str, output: str) -> int:
    """Tokens in one training example: prompt, response and EOS."""
    from radreport.formatting import prompt

    return len(tokenizer(prompt(instruction, inputs) + output)["input_ids"]) + 1


def full_length_records(records, tokenizer, length: int):
    """Training records whose inputs are consecutive studies' findings joined while the whole example (prompt,
    response, EOS) still fits `length` tokens: IU pairs are a few hundred tokens, and long sequences are where the
    backends differ most."""
    import pandas as pd

    def size(row, inputs: list[str]) -> int:
        return example_tokens(tokenizer, row.instruction, " ".join(inputs), row.output)

    rows, joined, last = [], [], None
    for row in records.itertuples(index=False):
        if joined and size(row, joined + [row.input]) > length:
            rows.append({**last._asdict(), "input": " ".join(joined)})
            joined = []
        if size(row, [row.input]) <= length:
            joined, last = joined + [row.input], row
    return pd.DataFrame(rows)


def workload_config(workload: str, backend: str, args):
    """The recipe, timed: every step logged (trl's token count), no save, evaluation or resume inside the run; the
    long workload also sets the sequence length, its batch and checkpointing."""
    from radreport.config import TrainConfig, load_config

    steps = args.warmup + args.steps
    update = dict(model=args.model_dir, backend=backend, max_steps=steps, save_steps=steps + 1, logging_steps=1,
                  eval_loss_examples=0, resume=False)
    if workload == "long":
        update |= dict(batch_size=args.batch_size, max_length=args.length, gradient_checkpointing=True)
    return TrainConfig.model_validate({**load_config(RECIPE).train.model_dump(), **update})


def versions() -> dict:
    """This interpreter's versions of what the figures depend on (None: not installed)."""
    import importlib.metadata as md

    def version(name: str) -> str | None:
        try:
            return md.version(name)
        except md.PackageNotFoundError:
            return None

    return {name: version(name) for name in VERSIONED}


def run_backend(backend: str, workload: str, args) -> dict:
    """Train one workload in this process: each timed step's seconds, its tokens (trl's count where it logs one,
    and the estimate from the examples' mean length), peak memory and the library versions."""
    from radreport.training.backends import import_unsloth_first

    import_unsloth_first(backend)  # before anything below imports trl, transformers or peft
    from benchmarks.timing import peak_memory_gb, peak_reserved_gb, reset_peak_memory, step_timer, timed_tokens
    from ops.env import configure

    configure(tempfile.mkdtemp(prefix=f"radreport-bench-{backend}-"))
    from radreport.config import StructuringConfig
    from radreport.formatting import alpaca_records
    from radreport.ingest import ingest
    from radreport.structuring.reports import structure_reports
    from radreport.training.lora import liger_kernel, train_lora
    from radreport.training.models import load_tokenizer

    records, _ = alpaca_records(structure_reports(ingest([Path(args.data)]).reports, StructuringConfig())[0],
                                "findings_to_impression")
    tokenizer = load_tokenizer(Path(args.model_dir))
    train = records[records["split"] == "train"]
    train = full_length_records(train, tokenizer, args.length) if workload == "long" else train
    config = workload_config(workload, backend, args)
    timer = step_timer()
    reset_peak_memory()
    checkpoints = train_lora(train, config, "findings_to_impression", Path(tempfile.mkdtemp()), callbacks=[timer])
    mean = sum(example_tokens(tokenizer, r.instruction, r.input, r.output) for r in train.itertuples()) / len(train)
    sequences_per_step = config.batch_size * config.grad_accum
    return {"step_seconds": timer.seconds[args.warmup:], "sequences_per_step": sequences_per_step,
            "trainer_tokens": timed_tokens(checkpoints.log_history, args.warmup),
            "estimated_tokens": mean * args.steps * sequences_per_step,
            "peak_allocated_gb": peak_memory_gb(), "peak_reserved_gb": peak_reserved_gb(),
            "liger_kernel": liger_kernel(config, backend)[0], "versions": versions()}


def child(backend: str, workload: str, args) -> tuple[dict | None, str | None]:
    """(figures, None) or (None, why it failed); the child's log goes straight to stderr."""
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0]}
    if args.smoke:
        env["RADREPORT_QLORA_ON_CPU"] = "1"
    python = dict(p.split("=", 1) for p in args.python).get(backend, sys.executable)
    command = [python, __file__, "--backend", backend, "--workload", workload, "--steps", str(args.steps),
               "--warmup", str(args.warmup), "--batch-size", str(args.batch_size), "--length", str(args.length),
               "--model-dir", args.model_dir, "--data", args.data]
    try:
        out = subprocess.run(command, stdout=subprocess.PIPE, text=True, env=env, timeout=args.backend_timeout)
    except subprocess.TimeoutExpired:
        return None, f"stopped after {args.backend_timeout} s (--backend-timeout)"
    if out.returncode:
        return None, f"exit {out.returncode} (its log is above)"
    return json.loads(out.stdout.strip().splitlines()[-1]), None


def peak_bf16_flops(device: str) -> float | None:
    """Dense bf16 peak FLOP/s of the GPUs this benchmark knows: H100 SXM (it names itself 'NVIDIA H100 80GB HBM3')
    and H200. PCIe and NVL parts have lower peaks, and anything else is unknown: None."""
    if "NVL" in device:
        return None
    return 989e12 if "H200" in device or ("H100" in device and "HBM3" in device) else None


def flops_per_token(model: dict, lora_r: int, targets: list[str], seq_len: float) -> float:
    """Training FLOPs per token of a Llama-shaped model with LoRA on `targets` (the formula is in the module
    docstring)."""
    hidden, layers = model["hidden_size"], model["num_hidden_layers"]
    head = model.get("head_dim") or hidden // model["num_attention_heads"]
    q, kv, inner = model["num_attention_heads"] * head, model["num_key_value_heads"] * head, model["intermediate_size"]
    shapes = {"q_proj": (hidden, q), "k_proj": (hidden, kv), "v_proj": (hidden, kv), "o_proj": (q, hidden),
              "gate_proj": (hidden, inner), "up_proj": (hidden, inner), "down_proj": (inner, hidden)}
    frozen = layers * sum(a * b for a, b in shapes.values())
    lora = layers * sum(lora_r * (a + b) for name, (a, b) in shapes.items() if name in targets)
    return 4 * frozen + 6 * lora + 12 * layers * hidden * seq_len


def token_counts(results: dict[str, dict]) -> tuple[dict[str, float], str]:
    """Each backend's timed tokens on one basis: trl's count where every backend logged one, else every backend's
    estimate, so that a ratio compares like with like."""
    if all(r["trainer_tokens"] is not None for r in results.values()):
        return {b: r["trainer_tokens"] for b, r in results.items()}, "trainer"
    return ({b: r["estimated_tokens"] for b, r in results.items()},
            "estimated: timed steps x sequences per step x the examples' mean tokens")


def backend_figures(result: dict, tokens: float, flops, peak: float | None) -> dict:
    """One backend's figures in one workload; `flops(seq_len)` is FLOPs per token, `peak` the device's FLOP/s."""
    seconds = result["step_seconds"]
    per_sequence = tokens / (len(seconds) * result["sequences_per_step"])
    tokens_per_s = tokens / sum(seconds)
    reserved = result["peak_reserved_gb"]
    return {"step_seconds": {"min": round(min(seconds), 4), "median": round(median(seconds), 4),
                             "max": round(max(seconds), 4)},
            "timed_steps": len(seconds), "tokens_per_s": round(tokens_per_s, 1),
            "mean_tokens_per_sequence": round(per_sequence, 1),
            "peak_allocated_gb": round(result["peak_allocated_gb"], 2),
            "peak_reserved_gb": None if reserved is None else round(reserved, 2),
            "mfu": round(tokens_per_s * flops(per_sequence) / peak, 4) if peak else None,
            "liger_kernel": result["liger_kernel"]}


def ratio(figures: dict, key: str) -> float | None:
    """unsloth's figure over hf-qlora's, where both ran and have it."""
    u, h = figures.get("unsloth"), figures.get("hf-qlora")
    return round(u[key] / h[key], 2) if u and h and u[key] and h[key] else None


def workload_figures(results: dict, failures: dict, flops, peak: float | None) -> dict:
    tokens, basis = token_counts(results)
    figures = {b: backend_figures(r, tokens[b], flops, peak) for b, r in results.items()}
    return {**figures, "tokens_counted": basis, "tokens_per_s_ratio": ratio(figures, "tokens_per_s"),
            "peak_memory_ratio": ratio(figures, "peak_allocated_gb"),
            "peak_reserved_ratio": ratio(figures, "peak_reserved_gb"), "failures": failures}


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def times(value: float | None) -> str:
    return "n/a" if value is None else f"{value}x"


def report(name: str, workload: dict) -> None:
    """A workload's table and its ratios beside the targets."""
    print(f"{name:<7} {'backend':<9} {'tokens/s':>9} {'step s min/median/max':>24} {'alloc GB':>9} {'resv GB':>8} "
          f"{'MFU':>6}")
    for backend in ("unsloth", "hf-qlora"):
        r = workload.get(backend)
        if not r:
            print(f"{name:<7} {backend:<9} failed: {workload['failures'][backend]}" if backend in workload["failures"]
                  else f"{name:<7} {backend:<9} not run")
            continue
        s, resv = r["step_seconds"], r["peak_reserved_gb"]
        print(f"{name:<7} {backend:<9} {r['tokens_per_s']:>9.0f} {s['min']:>8.3f}/{s['median']:.3f}/{s['max']:.3f} "
              f"{r['peak_allocated_gb']:>9.1f} {'n/a' if resv is None else f'{resv:.1f}':>8} {percent(r['mfu']):>6}")
    speed, memory = (times(workload[key]) for key in ("tokens_per_s_ratio", "peak_memory_ratio"))
    print(f"{name:<7} unsloth/hf-qlora: tokens/s {speed} (target >= {TARGETS['tokens_per_s_ratio_min']}x), peak "
          f"allocated {memory} (target <= {TARGETS['peak_memory_ratio_max']}x); tokens counted: "
          f"{workload['tokens_counted']}")


def shared_environment(version_sets: dict[str, dict]) -> bool | None:
    """Whether every backend ran with the same library versions (None: fewer than two ran)."""
    distinct = {json.dumps(v, sort_keys=True) for v in version_sets.values()}
    return len(distinct) == 1 if len(version_sets) > 1 else None


def prepare(args) -> tuple[str, tuple[str, ...]]:
    """(device, backends to run); builds the model and points --model-dir at it."""
    import torch

    if args.smoke:
        args.steps, args.warmup, args.batch_size, args.length = 3, 1, 2, 256
        args.model_dir = str(build_model(Path(tempfile.mkdtemp(prefix="radreport-smoke-")) / "tiny", smoke=True))
        return "cpu (smoke)", ("hf-qlora",)
    if not torch.cuda.is_available():
        raise SystemExit("benchmarks/train_gpu.py needs an NVIDIA GPU (or --smoke)")
    args.model_dir = str(build_model(Path(args.model_dir), smoke=False))
    return torch.cuda.get_device_name(0), tuple(args.backends.split(","))


def measure(args, device: str, backends: tuple[str, ...]) -> tuple[dict, dict]:
    """(figures per workload, library versions per backend that ran), each backend in its own process per
    workload."""
    from radreport.config import load_config

    recipe = load_config(RECIPE).train
    model = json.loads((Path(args.model_dir) / "config.json").read_text())
    flops = partial(flops_per_token, model, recipe.lora_r, recipe.target_modules)
    workloads, version_sets = {}, {}
    for workload in args.workloads.split(","):
        results, failures = {}, {"unsloth": "not run: Unsloth needs an NVIDIA GPU"} if args.smoke else {}
        for backend in backends:
            result, failure = child(backend, workload, args)
            if result:
                results[backend], version_sets[backend] = result, result["versions"]
            else:
                failures[backend] = failure
        workloads[workload] = workload_figures(results, failures, flops, peak_bf16_flops(device))
    return workloads, version_sets


def summary(args, device: str, workloads: dict, version_sets: dict) -> dict:
    """Print the tables and the targets; the JSON object (the long workload's figures keep their old keys)."""
    print(f"{device}; {'tiny Llama' if args.smoke else 'Llama-3-8B shape, random weights'}; {args.steps} timed steps "
          f"after {args.warmup}; long: batch {args.batch_size} x {args.length} tokens, checkpointing; recipe: "
          f"{RECIPE.name}'s batch of single IU rows, grouped by length")
    for name, workload in workloads.items():
        report(name, workload)
    long = workloads.get("long", {})
    u, h = long.get("unsloth"), long.get("hf-qlora")
    print(f"long    unsloth MFU {percent(u and u['mfu'])} (target >= {percent(TARGETS['long_unsloth_mfu_min'])})")
    shared = shared_environment(version_sets)
    if shared is False:
        print("the backends ran with different library versions (two environments): see versions in the JSON")
    return {"device": device, "smoke": args.smoke,
            "unsloth_tokens_per_s": u and u["tokens_per_s"], "hf_qlora_tokens_per_s": h and h["tokens_per_s"],
            "tokens_per_s_ratio": long.get("tokens_per_s_ratio"), "peak_memory_ratio": long.get("peak_memory_ratio"),
            "mean_tokens_per_sequence": (h or u or {}).get("mean_tokens_per_sequence"),
            "failures": long.get("failures", {}), "versions": version_sets, "shared_environment": shared,
            "targets": TARGETS, "workloads": workloads}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=30, help="timed optimizer steps per workload")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (compilation, allocator warm-up)")
    parser.add_argument("--batch-size", type=int, default=8, help="the long workload's (the recipe has its own)")
    parser.add_argument("--length", type=int, default=2048, help="tokens per sequence in the long workload")
    parser.add_argument("--model-dir", default=str(Path(tempfile.gettempdir()) / "llama3-8b-random"))
    parser.add_argument("--data", default=str(ROOT.parent / "shared/data/iu_xray"), help="IU X-Ray folder")
    parser.add_argument("--smoke", action="store_true", help="CPU, tiny model, hf-qlora only: the code path, not speed")
    parser.add_argument("--backends", default="unsloth,hf-qlora", help="comma-separated, run in this order")
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help="comma-separated, run in this order")
    parser.add_argument("--python", action="append", default=[], metavar="BACKEND=PATH",
                        help="run a backend with another interpreter (e.g. Unsloth's environment); repeatable")
    parser.add_argument("--backend-timeout", type=float, help="seconds one backend may take before it counts as failed")
    parser.add_argument("--backend", help=argparse.SUPPRESS)  # internal: run one backend and workload in this process
    parser.add_argument("--workload", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if set(args.workloads.split(",")) - set(WORKLOADS):
        parser.error(f"--workloads: choose from {', '.join(WORKLOADS)}")
    if args.backend:
        print(json.dumps(run_backend(args.backend, args.workload, args)))
        return
    device, backends = prepare(args)
    workloads, version_sets = measure(args, device, backends)
    print(json.dumps(summary(args, device, workloads, version_sets)))
    if not version_sets:
        raise SystemExit("every backend failed")


if __name__ == "__main__":
    main()
