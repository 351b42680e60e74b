"""Unsloth vs hf-qlora on one NVIDIA GPU, no internet: a Llama-3-8B-shaped model with random weights (speed and
memory do not depend on trained weights), IU X-Ray Alpaca pairs, max sequence length 2048, same batch and LoRA.

    pip install '.[gpu]'        # beside the base dependencies
    python benchmarks/train_gpu.py [--steps 30] [--batch-size 8] [--model-dir /tmp/llama3-8b-random] [--data DIR]

Each backend runs in its own process (importing Unsloth patches transformers). Last line: JSON with
unsloth_tokens_per_s, hf_qlora_tokens_per_s, tokens_per_s_ratio, peak_memory_ratio and device.
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LLAMA3_8B = dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                 num_key_value_heads=8, vocab_size=128256, max_position_embeddings=8192, rope_theta=500000.0,
                 rms_norm_eps=1e-5, tie_word_embeddings=False)


def build_model(out: Path) -> Path:
    """Random-weight Llama-3-8B in bf16 with a locally trained byte-level tokenizer (model vocab stays 128,256)."""
    if (out / "config.json").exists():
        return out
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from tests.tiny_model import build_tiny_model

    tokenizer_dir = build_tiny_model(out.parent / "tokenizer-source")
    config = LlamaConfig(**LLAMA3_8B, bos_token_id=1, eos_token_id=2, pad_token_id=0)
    with torch.device("cuda"):
        model = LlamaForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(out)
    del model
    torch.cuda.empty_cache()  # the backends run in child processes and need the memory
    from transformers import AutoTokenizer

    AutoTokenizer.from_pretrained(tokenizer_dir).save_pretrained(out)
    return out


def run_backend(backend: str, model_dir: Path, data: Path, steps: int, batch_size: int) -> dict:
    """Train in this process and report tokens/s and peak GPU memory."""
    import torch

    from ops.env import configure

    configure(tempfile.mkdtemp(prefix=f"radreport-bench-{backend}-"))
    from radreport.config import StructuringConfig, TrainConfig
    from radreport.formatting import alpaca_records
    from radreport.ingest import ingest
    from radreport.structuring.run import structure_reports
    from radreport.training import train_lora

    records, _ = alpaca_records(structure_reports(ingest([data]).reports,
                                                  StructuringConfig())[0], "findings_to_impression")
    config = TrainConfig(model=str(model_dir), backend=backend, max_steps=steps, save_steps=steps, batch_size=batch_size,
                         max_length=2048, logging_steps=1, gradient_checkpointing=True, warmup_steps=0)
    torch.cuda.reset_peak_memory_stats()
    summary = train_lora(records, config, "findings_to_impression", Path(tempfile.mkdtemp())).manifest["summary"]
    return {"backend": backend, "tokens_per_s": summary["tokens_per_s"],
            "peak_memory_gb": torch.cuda.max_memory_allocated() / 2**30, "seconds": summary["train_seconds"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--model-dir", default=str(Path(tempfile.gettempdir()) / "llama3-8b-random"))
    parser.add_argument("--data", default=str(ROOT.parent / "shared/data/iu_xray"), help="IU X-Ray folder")
    parser.add_argument("--backend", help=argparse.SUPPRESS)  # internal: run one backend in this process
    args = parser.parse_args()
    model_dir = Path(args.model_dir)
    if args.backend:
        print(json.dumps(run_backend(args.backend, model_dir, Path(args.data), args.steps, args.batch_size)))
        return
    import torch

    if not torch.cuda.is_available():
        raise SystemExit("benchmarks/train_gpu.py needs an NVIDIA GPU")
    build_model(model_dir)
    results = {}
    for backend in ("unsloth", "hf-qlora"):
        out = subprocess.run([sys.executable, __file__, "--backend", backend, "--steps", str(args.steps),
                              "--batch-size", str(args.batch_size), "--model-dir", str(model_dir), "--data", args.data],
                             stdout=subprocess.PIPE, text=True, check=True)  # its log goes straight to stderr
        results[backend] = json.loads(out.stdout.strip().splitlines()[-1])
    device = torch.cuda.get_device_name(0)
    print(f"{device}; Llama-3-8B shape, random weights, batch {args.batch_size}, max length 2048, {args.steps} steps")
    print(f"{'backend':<10} {'tokens/s':>9} {'peak GB':>8}")
    for backend, r in results.items():
        print(f"{backend:<10} {r['tokens_per_s']:>9.0f} {r['peak_memory_gb']:>8.1f}")
    u, h = results["unsloth"], results["hf-qlora"]
    print(json.dumps({"unsloth_tokens_per_s": u["tokens_per_s"], "hf_qlora_tokens_per_s": h["tokens_per_s"],
                      "tokens_per_s_ratio": round(u["tokens_per_s"] / h["tokens_per_s"], 2),
                      "peak_memory_ratio": round(u["peak_memory_gb"] / h["peak_memory_gb"], 2), "device": device}))


if __name__ == "__main__":
    main()
