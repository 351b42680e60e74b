"""Unsloth vs hf-qlora on one NVIDIA GPU, no internet: a Llama-3-8B-shaped model with random weights (speed and
memory do not depend on trained weights), IU X-Ray Alpaca pairs joined into sequences of the full length (2,048
tokens), same batch and LoRA.

    pip install '.[gpu]'        # beside the base dependencies
    python benchmarks/train_gpu.py [--steps 30] [--warmup 3] [--batch-size 8] [--model-dir /tmp/llama3-8b-random]
        [--backends unsloth,hf-qlora] [--backend-timeout SECONDS]
    python benchmarks/train_gpu.py --smoke      # the same code on CPU: tiny Llama, hf-qlora in 4-bit for real

Each backend runs in its own process on one device (Unsloth is imported first there: it patches trl, transformers
and peft). Only the optimizer steps after --warmup are timed (no compilation, checkpoint save or evaluation inside
the window). A backend that fails is reported, and the other's figures are kept. --smoke cannot run Unsloth (it
needs an NVIDIA GPU) and says so in the JSON. Last line: JSON with unsloth_tokens_per_s, hf_qlora_tokens_per_s,
tokens_per_s_ratio, peak_memory_ratio, mean_tokens_per_sequence and device.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LLAMA3_8B = dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                 num_key_value_heads=8, vocab_size=128256, max_position_embeddings=8192, rope_theta=500000.0,
                 rms_norm_eps=1e-5, tie_word_embeddings=False)


def build_model(out: Path, smoke: bool) -> Path:
    """Random-weight Llama-3-8B built in bf16 on the GPU (never fp32 first), with a locally trained byte-level
    tokenizer (model vocab stays 128,256); for --smoke the tiny test Llama."""
    from tests.tiny_model import build_tiny_model

    if smoke:
        return build_tiny_model(out)
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


def run_backend(backend: str, model_dir: Path, data: Path, steps: int, warmup: int, batch_size: int,
                length: int) -> dict:
    """Train in this process and report tokens/s over the timed steps and peak memory."""
    from radreport.training.backends import import_unsloth_first

    import_unsloth_first(backend)  # before anything below imports trl, transformers or peft
    from benchmarks.timing import peak_memory_gb, reset_peak_memory, step_timer, timed_tokens
    from ops.env import configure

    configure(tempfile.mkdtemp(prefix=f"radreport-bench-{backend}-"))
    from radreport.config import StructuringConfig, TrainConfig
    from radreport.formatting import alpaca_records
    from radreport.ingest import ingest
    from radreport.training.models import load_tokenizer
    from radreport.structuring.reports import structure_reports
    from radreport.training.lora import train_lora

    records, _ = alpaca_records(structure_reports(ingest([data]).reports, StructuringConfig())[0],
                                "findings_to_impression")
    tokenizer = load_tokenizer(model_dir)
    train = full_length_records(records[records["split"] == "train"], tokenizer, length)
    config = TrainConfig(model=str(model_dir), backend=backend, max_steps=warmup + steps, save_steps=warmup + steps + 1,
                         batch_size=batch_size, max_length=length, logging_steps=1, gradient_checkpointing=True,
                         warmup_steps=0, eval_loss_examples=0, resume=False, max_train_examples=None)
    timer = step_timer()
    reset_peak_memory()
    checkpoints = train_lora(train, config, "findings_to_impression", Path(tempfile.mkdtemp()), callbacks=[timer])
    seconds, tokens = sum(timer.seconds[warmup:]), timed_tokens(checkpoints.log_history, warmup)
    if tokens is None:  # Unsloth's trainer logs no num_tokens: the training examples' mean length per sequence
        mean = sum(example_tokens(tokenizer, r.instruction, r.input, r.output) for r in train.itertuples()) / len(train)
        tokens = mean * steps * batch_size
    return {"backend": backend, "tokens_per_s": round(tokens / seconds, 1), "peak_memory_gb": round(peak_memory_gb(), 2),
            "timed_seconds": round(seconds, 2), "mean_tokens_per_sequence": round(tokens / (steps * batch_size), 1)}


def child(backend: str, args, model_dir: Path) -> tuple[dict | None, str | None]:
    """(figures, None) or (None, why it failed); the child's log goes straight to stderr."""
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0]}
    if args.smoke:
        env["RADREPORT_QLORA_ON_CPU"] = "1"
    command = [sys.executable, __file__, "--backend", backend, "--steps", str(args.steps), "--warmup",
               str(args.warmup), "--batch-size", str(args.batch_size), "--length", str(args.length), "--model-dir",
               str(model_dir), "--data", args.data]
    try:
        out = subprocess.run(command, stdout=subprocess.PIPE, text=True, env=env, timeout=args.backend_timeout)
    except subprocess.TimeoutExpired:
        return None, f"stopped after {args.backend_timeout} s (--backend-timeout)"
    if out.returncode:
        return None, f"exit {out.returncode} (its log is above)"
    return json.loads(out.stdout.strip().splitlines()[-1]), None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=30, help="timed optimizer steps")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (compilation, allocator warm-up)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--length", type=int, default=2048, help="tokens per training sequence")
    parser.add_argument("--model-dir", default=str(Path(tempfile.gettempdir()) / "llama3-8b-random"))
    parser.add_argument("--data", default=str(ROOT.parent / "shared/data/iu_xray"), help="IU X-Ray folder")
    parser.add_argument("--smoke", action="store_true", help="CPU, tiny model, hf-qlora only: the code path, not speed")
    parser.add_argument("--backends", default="unsloth,hf-qlora", help="comma-separated, run in this order")
    parser.add_argument("--backend-timeout", type=float, help="seconds one backend may take before it counts as failed")
    parser.add_argument("--backend", help=argparse.SUPPRESS)  # internal: run one backend in this process
    args = parser.parse_args()
    if args.backend:
        print(json.dumps(run_backend(args.backend, Path(args.model_dir), Path(args.data), args.steps, args.warmup,
                                     args.batch_size, args.length)))
        return
    import torch

    if args.smoke:
        args.steps, args.warmup, args.batch_size, args.length = 2, 1, 2, 256
        model_dir = build_model(Path(tempfile.mkdtemp(prefix="radreport-smoke-")) / "tiny", smoke=True)
        device, backends = "cpu (smoke)", ("hf-qlora",)
    elif not torch.cuda.is_available():
        raise SystemExit("benchmarks/train_gpu.py needs an NVIDIA GPU (or --smoke)")
    else:
        model_dir, device = build_model(Path(args.model_dir), smoke=False), torch.cuda.get_device_name(0)
        backends = tuple(args.backends.split(","))
    results, failures = {}, {}
    for backend in backends:
        results[backend], failures[backend] = child(backend, args, model_dir)
    if args.smoke:
        failures["unsloth"] = "not run: Unsloth needs an NVIDIA GPU"
    print(f"{device}; {'tiny Llama' if args.smoke else 'Llama-3-8B shape, random weights'}, batch {args.batch_size}, "
          f"sequences of {args.length} tokens, {args.steps} timed steps after {args.warmup}")
    print(f"{'backend':<10} {'tokens/s':>9} {'peak GB':>8}")
    for backend in ("unsloth", "hf-qlora"):
        r = results.get(backend)
        print(f"{backend:<10} {r['tokens_per_s']:>9.0f} {r['peak_memory_gb']:>8.1f}" if r else
              f"{backend:<10} failed: {failures[backend]}" if failures.get(backend) else f"{backend:<10} not run")
    u, h = results.get("unsloth"), results.get("hf-qlora")
    figures = {"device": device, "smoke": args.smoke,
               "unsloth_tokens_per_s": u and u["tokens_per_s"], "hf_qlora_tokens_per_s": h and h["tokens_per_s"],
               "tokens_per_s_ratio": round(u["tokens_per_s"] / h["tokens_per_s"], 2) if u and h else None,
               "peak_memory_ratio": round(u["peak_memory_gb"] / h["peak_memory_gb"], 2) if u and h else None,
               "mean_tokens_per_sequence": (h or u or {}).get("mean_tokens_per_sequence"),
               "failures": {k: v for k, v in failures.items() if v}}
    print(json.dumps(figures))
    if not (u or h):
        raise SystemExit("every backend failed")


if __name__ == "__main__":
    main()
