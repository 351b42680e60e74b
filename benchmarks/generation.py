"""Batched greedy generation with the embedded Gemma-3-270M versus batch size 1, on IU X-Ray prompts.

    .venv/bin/python benchmarks/generation.py [--prompts 16] [--batch-size 8] [--max-new-tokens 32]

The model is loaded as the evaluation stage loads it (on CPU, linear layers in oneDNN: `radreport/onednn.py`).
Tokens counted are the generated ones up to and including EOS (padding after EOS is not counted).
Last line: JSON with tokens_per_s_batch1, tokens_per_s_batched, batched_speedup.
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
from radreport.generation import generate  # noqa: E402
from radreport.ingest import ingest  # noqa: E402
from radreport.models import EMBEDDED, load_model, load_tokenizer, resolve_model  # noqa: E402
from radreport.onednn import use_onednn_linears  # noqa: E402
from radreport.structuring.run import structure_reports  # noqa: E402


def run(model, tokenizer, prompts: list[str], batch_size: int, max_new_tokens: int) -> float:
    started = time.perf_counter()
    texts = generate(model, tokenizer, prompts, batch_size, max_new_tokens)
    seconds = time.perf_counter() - started
    # Re-tokenising the decoded text gives the generated length up to EOS (+1 for EOS when it stopped early).
    tokens = sum(min(len(tokenizer(t, add_special_tokens=False)["input_ids"]) + 1, max_new_tokens) for t in texts)
    return tokens / seconds


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
    model, tokenizer = use_onednn_linears(load_model(path)), load_tokenizer(path)
    run(model, tokenizer, prompts[:2], 2, 4)  # warm-up
    batch1 = run(model, tokenizer, prompts, 1, args.max_new_tokens)
    batched = run(model, tokenizer, prompts, args.batch_size, args.max_new_tokens)
    print(f"Gemma-3-270M, {len(prompts)} IU X-Ray prompts, up to {args.max_new_tokens} new tokens, "
          f"{torch.get_num_threads()} threads")
    print(f"{'batch size':>10} {'tokens/s':>9}")
    print(f"{1:>10} {batch1:>9.1f}\n{args.batch_size:>10} {batched:>9.1f}")
    print(json.dumps({"tokens_per_s_batch1": round(batch1, 1), "tokens_per_s_batched": round(batched, 1),
                      "batch_size": args.batch_size, "batched_speedup": round(batched / batch1, 2)}))


if __name__ == "__main__":
    main()
