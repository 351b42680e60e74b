"""The training pipeline end to end on a GPU, once per backend: ingest a slice of IU X-Ray, train a few steps, evaluate
two checkpoints beside the baselines, register and gate, then load the champion with `mlflow.pyfunc` and predict.
No weights to download: a Llama of Llama-3-8B's width (hidden 4,096, MLP 14,336, 32 heads, 8 KV heads, vocabulary
128,256) with --layers layers and seeded random weights, and a tokenizer trained locally. The figures are the DAG's
cost on the GPU per stage, not model quality.

    python benchmarks/gpu_e2e.py [--layers 2] [--backends unsloth,hf-qlora] [--rows 64]   # NVIDIA GPU
    python benchmarks/gpu_e2e.py --smoke        # CPU, the tiny test Llama, hf-qlora in 4-bit: what the suite runs

One JSON line per backend: backend, stage_seconds (per pipeline step), peak_gpu_gb (the allocator's reserve), and
registered_version; a backend that fails gets its error instead.
"""

import argparse
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def build_model(out: Path, layers: int, smoke: bool) -> Path:
    from benchmarks.train_gpu import LLAMA3_8B
    from tests.tiny_model import build_tiny_model

    if smoke:
        return build_tiny_model(out, width=64)
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(**{**LLAMA3_8B, "num_hidden_layers": layers}, bos_token_id=1, eos_token_id=2, pad_token_id=0)
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = LlamaForCausalLM._from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(out)
    del model
    torch.cuda.empty_cache()
    AutoTokenizer.from_pretrained(build_tiny_model(out.parent / "tokenizer-source")).save_pretrained(out)
    return out


def slice_of_iu(data: Path, rows: int, out: Path) -> Path:
    """The first `rows` IU X-Ray reports (and their projections file), as a folder the ingest step reads."""
    import pandas as pd

    out.mkdir(parents=True, exist_ok=True)
    pd.read_csv(data / "indiana_reports.csv").head(rows).to_csv(out / "indiana_reports.csv", index=False)
    if (data / "indiana_projections.csv").exists():
        pd.read_csv(data / "indiana_projections.csv").to_csv(out / "indiana_projections.csv", index=False)
    return out


def config_for(model: Path, backend: str, folder: Path) -> Path:
    path = folder / f"{backend}.yaml"
    path.write_text(yaml.safe_dump({
        "train": {"model": str(model), "backend": backend, "max_steps": 4, "save_steps": 2, "logging_steps": 1,
                  "batch_size": 4, "eval_loss_examples": 4, "max_length": 256},
        "eval": {"max_examples": 8, "max_new_tokens": 8, "batch_size": 8},
        "human_eval": {"cases": 2},
        # random weights cannot beat the baselines: the gate's rules are beside the point here
        "promotion": {"model_name": f"radreport-gpu-e2e-{backend}", "floors": {"rougeL": 0.0}, "beat_baselines": []},
    }))
    return path


def run_backend(backend: str, model: Path, data: Path, folder: Path) -> dict:
    import mlflow
    import pandas as pd
    import torch
    from zenml.client import Client

    from cli import main
    from ops.stack import mlflow_target

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    started = time.monotonic()
    main(["run", "--config", str(config_for(model, backend, folder)), "--data", str(data)])
    run = Client().get_pipeline("radreport_training").last_run
    stages = {name: round((step.end_time - step.start_time).total_seconds(), 1) for name, step in run.steps.items()}
    decision = run.steps["promote_model"].outputs["promotion_decision"][0].load()
    predict_started = time.monotonic()
    mlflow.set_tracking_uri(mlflow_target().tracking_uri)
    pyfunc = mlflow.pyfunc.load_model(f"models:/{decision['model_name']}/{decision['version']}")
    pyfunc.predict(pd.DataFrame({"findings": ["The lungs are clear. No effusion."]}), params={"max_new_tokens": 8})
    stages["pyfunc_load_and_predict"] = round(time.monotonic() - predict_started, 1)
    peak = torch.cuda.max_memory_reserved() / 2**30 if torch.cuda.is_available() else 0.0
    return {"backend": backend, "stage_seconds": stages, "total_seconds": round(time.monotonic() - started, 1),
            "peak_gpu_gb": round(peak, 2), "registered_version": int(decision["version"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT.parent / "shared/data/iu_xray"), help="IU X-Ray folder")
    parser.add_argument("--layers", type=int, default=2, help="decoder layers of the Llama-3-8B-wide model")
    parser.add_argument("--backends", default="unsloth,hf-qlora")
    parser.add_argument("--rows", type=int, default=64, help="IU X-Ray reports ingested")
    parser.add_argument("--smoke", action="store_true", help="CPU, tiny Llama, hf-qlora in 4-bit (the test suite's run)")
    args = parser.parse_args()

    from ops.env import configure
    from radreport.training.backends import QLORA_ON_CPU

    if args.smoke:
        os.environ[QLORA_ON_CPU] = "1"  # hf-qlora's 4-bit path, for real, on this CPU
    work = Path(tempfile.mkdtemp(prefix="radreport-gpu-e2e-"))
    configure(work / "home")
    import torch

    if not args.smoke and not torch.cuda.is_available():
        raise SystemExit("benchmarks/gpu_e2e.py needs an NVIDIA GPU (or --smoke)")
    backends = ["hf-qlora"] if args.smoke else args.backends.split(",")  # bitsandbytes runs 4-bit on a CPU too
    model = build_model(work / "model", args.layers, args.smoke)
    data = slice_of_iu(Path(args.data), args.rows, work / "data")
    device = "cpu (smoke)" if args.smoke else torch.cuda.get_device_name(0)
    results = []
    for backend in backends:
        try:
            results.append(run_backend(backend, model, data, work))
        except BaseException as error:  # noqa: BLE001 - one backend failing keeps the other's figures
            traceback.print_exc()
            results.append({"backend": backend, "error": f"{type(error).__name__}: {str(error)[:300]}"})
    print(f"{device}; {'tiny Llama' if args.smoke else f'Llama-3-8B width, {args.layers} layers, random weights'}; "
          f"{args.rows} IU X-Ray reports")
    print(f"{'backend':<10} {'total s':>8} {'peak GB':>8} {'version':>8}  stages (s)")
    for r in results:
        if "error" in r:
            print(f"{r['backend']:<10} failed: {r['error']}")
        else:
            print(f"{r['backend']:<10} {r['total_seconds']:>8.1f} {r['peak_gpu_gb']:>8.2f} {r['registered_version']:>8}  "
                  + ", ".join(f"{k} {v}" for k, v in r["stage_seconds"].items()))
    for r in results:
        print(json.dumps(r))


if __name__ == "__main__":
    main()
