"""cpu-lora training throughput: trl's default path vs the project's (LM head at supervised positions, frozen linear
layers in bf16 where the CPU computes bf16 natively, batches grouped by length), on the same IU X-Ray training rows.

    python benchmarks/train_cpu.py [--rows 64] [--steps 10] [--batch-size 8] [--model embedded:gemma-3-270m]
    python benchmarks/train_cpu.py --random-weights --model DIR   # DIR: config.json and tokenizer, no weights

Four runs of one warm-up step plus --steps timed steps, same seed and LoRA settings:
  reference  trl's SFTTrainer as it comes: fp32, the LM head at every position, random batches
  head       the LM head at supervised positions only, fp32 base, the same random batches
  kernels    head plus bf16 linear layers where native (train.cpu_bf16_base: auto), the same random batches
  project    kernels plus length-grouped batches: what train.* defaults run
head's and kernels' per-step losses are compared with reference's (same batches, same initial weights).
Last line: JSON with baseline_tokens_per_s, tokens_per_s, speedup and max_loss_diff (kernels vs reference), and
head_speedup, head_max_loss_diff.
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

VARIANTS = {"reference": dict(compact_lm_head=False, cpu_bf16_base="off", group_by_length=False),
            "head": dict(compact_lm_head=True, cpu_bf16_base="off", group_by_length=False),
            "kernels": dict(compact_lm_head=True, cpu_bf16_base="auto", group_by_length=False),
            "project": dict(compact_lm_head=True, cpu_bf16_base="auto", group_by_length=True)}


def with_random_weights(model_dir: str) -> str:
    """The architecture and tokenizer in `model_dir` with seeded random weights, for a machine that lacks the
    weights (speed does not depend on them; the losses then compare the numerics on random weights)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    out = Path(tempfile.mkdtemp(prefix="radreport-random-weights-"))
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(model_dir), dtype=torch.bfloat16)
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(model_dir).save_pretrained(out)
    return str(out)


def run(records, model: str, settings: dict, steps: int, batch_size: int) -> dict:
    from radreport.config import TrainConfig
    from radreport.training.lora import train_lora

    from benchmarks.timing import step_timer, timed_tokens

    config = TrainConfig(model=model, backend="cpu-lora", max_steps=steps + 1, save_steps=steps + 1,
                         batch_size=batch_size, logging_steps=1, eval_loss_examples=0, resume=False,
                         **settings)
    timer = step_timer()
    out = train_lora(records, config, "findings_to_impression", Path(tempfile.mkdtemp()), callbacks=[timer])
    losses = [e["loss"] for e in out.log_history if "loss" in e]
    return {"losses": losses, "tokens": timed_tokens(out.log_history, 1), "seconds": sum(timer.seconds[1:])}  # after warm-up


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT.parent / "shared/data/iu_xray"), help="IU X-Ray folder")
    parser.add_argument("--model", default="embedded:gemma-3-270m")
    parser.add_argument("--rows", type=int, default=64, help="training rows (the first N of the train split)")
    parser.add_argument("--steps", type=int, default=10, help="timed steps after one warm-up step")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--random-weights", action="store_true",
                        help="--model is a folder with config.json and tokenizer only: train its architecture from "
                             "seeded random weights (a machine without the model's weights)")
    args = parser.parse_args()

    from ops.env import configure

    configure(tempfile.mkdtemp(prefix="radreport-bench-train-cpu-"))
    from radreport.config import StructuringConfig
    from radreport.training.models import cpu_computes_bf16
    from radreport.formatting import alpaca_records
    from radreport.ingest import ingest
    from radreport.structuring.reports import structure_reports

    structured = structure_reports(ingest([args.data]).reports, StructuringConfig())[0]
    records, _ = alpaca_records(structured, "findings_to_impression")
    records = records[records["split"] == "train"].head(args.rows)
    model = with_random_weights(args.model) if args.random_weights else args.model
    results = {}
    for name, settings in VARIANTS.items():
        results[name] = run(records, model, settings, args.steps, args.batch_size)
        print(f"{name}: {results[name]['seconds'] / args.steps:.2f} s/step", file=sys.stderr)  # progress
    reference = results["reference"]
    speed = {name: r["tokens"] / r["seconds"] for name, r in results.items()}
    loss_diff = {name: max(abs(a - b) for a, b in zip(reference["losses"], results[name]["losses"]))
                 for name in ("head", "kernels")}
    weights = " (random weights)" if args.random_weights else ""
    print(f"{args.model}{weights}, LoRA r=16, {len(records)} IU X-Ray rows, batch {args.batch_size}, "
          f"{args.steps} timed steps after 1 warm-up; CPU native bf16: {cpu_computes_bf16()}")
    print(f"{'run':<10} {'s/step':>7} {'tokens/s':>9} {'speedup':>8}  losses (every step)")
    for name, r in results.items():
        print(f"{name:<10} {r['seconds'] / args.steps:>7.2f} {speed[name]:>9.1f} {speed[name] / speed['reference']:>7.2f}x"
              f"  {' '.join(f'{x:.3f}' for x in r['losses'])}")
    print(f"largest per-step loss difference from reference (same batches): head {loss_diff['head']:.4f}, "
          f"kernels {loss_diff['kernels']:.4f}")
    print(json.dumps({"baseline_tokens_per_s": round(speed["reference"], 1), "tokens_per_s": round(speed["project"], 1),
                      "speedup": round(speed["project"] / speed["reference"], 2),
                      "kernels_speedup": round(speed["kernels"] / speed["reference"], 2),
                      "max_loss_diff": round(loss_diff["kernels"], 4),
                      "head_speedup": round(speed["head"] / speed["reference"], 2),
                      "head_max_loss_diff": round(loss_diff["head"], 4), "cpu_bf16": cpu_computes_bf16(),
                      "random_weights": args.random_weights, "rows": len(records), "steps": args.steps,
                      "batch_size": args.batch_size}))


if __name__ == "__main__":
    main()
