"""Training throughput on 1 vs N processes at the same global batch (radreport.training.distributed: DDP through
accelerate; gloo on a CPU, NCCL with --gpu), on the same IU X-Ray training rows.

    python benchmarks/train_ddp.py [--processes 2] [--global-batch 8] [--steps 10] [--model embedded:gemma-3-270m]
    python benchmarks/train_ddp.py --gpu --model DIR      # hf-qlora, one process per visible GPU
    python benchmarks/train_ddp.py --smoke --model DIR    # the tiny test model, 2 steps: the suite runs this

Each step of both runs sees the same examples (the distributed sampler deals one process's order out to the ranks),
so both process the same tokens; the time is the trainer's (model loading and process start excluded). With several
processes trl's own loss runs (the compact LM head is single-process), so the 1-process baseline runs it too.
Last line: JSON with processes, tokens_per_s (one entry per process count), scaling (N vs 1).
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def run(records, model: str, backend: str, processes: int, global_batch: int, steps: int) -> dict:
    from radreport.config import TrainConfig
    from radreport.training.distributed import train

    config = TrainConfig(model=model, backend=backend, processes=processes, batch_size=global_batch // processes,
                         max_steps=steps, save_steps=steps, logging_steps=1, eval_loss_examples=0, resume=False,
                         warmup_steps=0, group_by_length=False, compact_lm_head=False)
    summary = train(records, config, "findings_to_impression", Path(tempfile.mkdtemp())).manifest["summary"]
    return {"seconds": summary["train_seconds"], "tokens": summary["tokens_per_s"] * summary["train_seconds"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT.parent / "shared/data/iu_xray"), help="IU X-Ray folder")
    parser.add_argument("--model", default="embedded:gemma-3-270m")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--global-batch", type=int, default=8, help="examples per optimizer step, all processes")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--gpu", action="store_true", help="hf-qlora, one process per visible GPU")
    parser.add_argument("--smoke", action="store_true", help="2 steps, global batch 4 (the test suite's run)")
    args = parser.parse_args()
    if args.smoke:
        args.steps, args.global_batch = 2, 4

    from ops.env import configure

    configure(tempfile.mkdtemp(prefix="radreport-bench-ddp-"))
    from radreport.config import StructuringConfig
    from radreport.formatting import alpaca_records
    from radreport.ingest import ingest
    from radreport.structuring.reports import structure_reports

    if args.gpu:
        import torch

        args.processes = torch.cuda.device_count()
    if args.global_batch % args.processes:
        raise SystemExit(f"--global-batch {args.global_batch} does not split over {args.processes} processes")
    structured = structure_reports(ingest([args.data]).reports, StructuringConfig())[0]
    records, _ = alpaca_records(structured, "findings_to_impression")
    records = records[records["split"] == "train"].head(args.global_batch * args.steps)
    backend = "hf-qlora" if args.gpu else "cpu-lora"
    results = {n: run(records, args.model, backend, n, args.global_batch, args.steps) for n in (1, args.processes)}
    speed = {n: r["tokens"] / r["seconds"] for n, r in results.items()}
    print(f"{args.model}, {backend}, global batch {args.global_batch}, {args.steps} steps, {len(records)} IU X-Ray rows")
    print(f"{'processes':>9} {'train s':>8} {'tokens/s':>9} {'scaling':>8}")
    for n, r in results.items():
        print(f"{n:>9} {r['seconds']:>8.1f} {speed[n]:>9.1f} {speed[n] / speed[1]:>7.2f}x")
    print(json.dumps({"processes": args.processes, "tokens_per_s": {str(n): round(s, 1) for n, s in speed.items()},
                      "scaling": round(speed[args.processes] / speed[1], 2), "backend": backend,
                      "global_batch": args.global_batch, "steps": args.steps}))


if __name__ == "__main__":
    main()
