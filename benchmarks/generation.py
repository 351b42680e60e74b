"""Greedy generation with the embedded Gemma-3-270M on IU X-Ray prompts: fp32 (before) against the evaluation
stage's loading (bf16 where the CPU computes it natively, `models.load_for_inference`), at batch 1 and batched.

    .venv/bin/python benchmarks/generation.py [--prompts 16] [--batch-size 8] [--max-new-tokens 32]

Both load linear layers in oneDNN on CPU (`radreport/training/onednn.py`); prompts are batched by length (`generation.py`).
Tokens counted are the generated ones up to and including EOS (padding after EOS is not counted).
Last line: JSON with tokens_per_s_batch1, tokens_per_s_batched, batched_speedup (the evaluation's loading),
fp32_tokens_per_s_batched, bf16_speedup and same_texts (how many of the batched texts fp32 and bf16 agree on).
"""

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ops.env import configure  # noqa: E402

configure()

import torch  # noqa: E402

from radreport.config import StructuringConfig  # noqa: E402
from radreport.formatting import alpaca_records, prompt  # noqa: E402
from radreport.inference.generation import generate  # noqa: E402
from radreport.ingest import ingest  # noqa: E402
from transformers import AutoModelForCausalLM  # noqa: E402

from radreport.training.models import (EMBEDDED, cpu_computes_bf16, load_for_inference, load_model, load_tokenizer,  # noqa: E402
                              resolve_model)
from radreport.training.onednn import use_onednn_linears  # noqa: E402
from radreport.structuring.reports import structure_reports  # noqa: E402


def run(model, tokenizer, prompts: list[str], batch_size: int, max_new_tokens: int) -> tuple[float, list[str]]:
    """(tokens/s, texts)."""
    started = time.perf_counter()
    texts = generate(model, tokenizer, prompts, batch_size, max_new_tokens)
    seconds = time.perf_counter() - started
    # Re-tokenising the decoded text gives the generated length up to EOS (+1 for EOS when it stopped early).
    tokens = sum(min(len(tokenizer(t, add_special_tokens=False)["input_ids"]) + 1, max_new_tokens) for t in texts)
    return tokens / seconds, texts


def measure(model, tokenizer, prompts: list[str], batch_size: int, max_new_tokens: int) -> dict:
    run(model, tokenizer, prompts[:2], 2, 4)  # warm-up
    batch1, _ = run(model, tokenizer, prompts, 1, max_new_tokens)
    batched, texts = run(model, tokenizer, prompts, batch_size, max_new_tokens)
    return {"batch1": batch1, "batched": batched, "texts": texts, "dtype": str(model.dtype).removeprefix("torch.")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iu", default=str(ROOT.parent / "shared/data/iu_xray"))
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    args = parser.parse_args()
    records, _ = alpaca_records(structure_reports(ingest(args.iu).reports, StructuringConfig())[0], "findings_to_impression")
    held_out = records[records["split"] == "test"].head(args.prompts)
    prompts = [prompt(r.instruction, r.input) for r in held_out.itertuples(index=False)]
    path = resolve_model(EMBEDDED)
    tokenizer = load_tokenizer(path)
    before = measure(use_onednn_linears(load_model(path)), tokenizer, prompts, args.batch_size, args.max_new_tokens)
    after = measure(load_for_inference(AutoModelForCausalLM, path), tokenizer, prompts, args.batch_size,
                    args.max_new_tokens)
    same = sum(a == b for a, b in zip(before["texts"], after["texts"]))
    print(f"Gemma-3-270M, {len(prompts)} IU X-Ray prompts, up to {args.max_new_tokens} new tokens, "
          f"{torch.get_num_threads()} threads, CPU native bf16: {cpu_computes_bf16()}")
    print(f"{'loading':<22} {'batch 1 tok/s':>13} {f'batch {args.batch_size} tok/s':>13}")
    for name, r in (("fp32 (before)", before), (f"evaluation ({after['dtype']})", after)):
        print(f"{name:<22} {r['batch1']:>13.1f} {r['batched']:>13.1f}")
    print(f"batched texts equal between the two: {same} of {len(prompts)}")
    print(json.dumps({"tokens_per_s_batch1": round(after["batch1"], 1), "tokens_per_s_batched": round(after["batched"], 1),
                      "batch_size": args.batch_size, "batched_speedup": round(after["batched"] / after["batch1"], 2),
                      "fp32_tokens_per_s_batched": round(before["batched"], 1),
                      "bf16_speedup": round(after["batched"] / before["batched"], 2), "same_texts": same,
                      "prompts": len(prompts)}))

if __name__ == "__main__":
    main()
