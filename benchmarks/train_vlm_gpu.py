"""LLaVA-Next QLoRA on one NVIDIA GPU, no internet: a llava-v1.6-mistral-7b-shaped model with random weights (CLIP
ViT-L/14 at 336 px, 7B language model; speed and memory do not depend on trained weights), the seed's recipe
(4-bit, LoRA r=16 on the language model's linear layers, batch 1 x 8 accumulation), two real IU X-ray images per
study from ../shared/data/iu_xray_images_sample.

    pip install '.[gpu]'        # beside the base dependencies
    python benchmarks/train_vlm_gpu.py [--steps 10] [--warmup 2] [--model-dir /tmp/llava-next-7b-random]
    python benchmarks/train_vlm_gpu.py --smoke      # the same code on CPU: tiny LLaVA-Next, hf-qlora in 4-bit

hf-qlora always; Unsloth's FastVisionModel too, in its own process on one device (Unsloth imported first), where
it loads the architecture (else its failure is reported and hf-qlora's figures kept). Only the optimizer steps
after --warmup are timed (no evaluation or save inside the window). Last line: JSON with device, step_seconds,
images_per_s, peak_memory_gb, trainable_share (and unsloth_* where measured).
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

CLIP_L_336 = dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                  image_size=336, patch_size=14, projection_dim=768)
MISTRAL_7B = dict(vocab_size=32064, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                  num_attention_heads=32, num_key_value_heads=8, max_position_embeddings=32768, rope_theta=1e6)
GRID = [[336, 672], [672, 336], [672, 672], [1008, 336], [336, 1008]]


def study_records(images: Path, copies: int):
    import pandas as pd

    from radreport.config import StructuringConfig, VisionTrainConfig
    from radreport.vision.images import attach_images, csv_image_index
    from radreport.structuring.reports import structure_reports
    from radreport.vision.format import vision_records

    index = csv_image_index(images / "mapping.csv", {"report_id": "iu_uid", "view": "projection"})
    mapping = pd.read_csv(images / "mapping.csv", dtype=str).drop_duplicates("iu_uid")
    reports = pd.DataFrame({"report_id": mapping["iu_uid"], "findings": mapping["findings"], "impression": "",
                            "split": "train"})
    studies, _ = attach_images(reports, index)
    records, _ = vision_records(structure_reports(studies, StructuringConfig())[0],
                                VisionTrainConfig.model_fields["prompt"].default)
    train = pd.concat([records] * copies, ignore_index=True)
    return pd.concat([train, records.head(1).assign(split="validation")], ignore_index=True)


def run_backend(backend: str, model_dir: Path, images: Path, steps: int, warmup: int, smoke: bool) -> dict:
    from radreport.training.backends import import_unsloth_first

    import_unsloth_first(backend)  # before anything below imports trl, transformers or peft
    from benchmarks.timing import peak_memory_gb, reset_peak_memory, step_timer
    from ops.env import configure

    configure(tempfile.mkdtemp(prefix=f"radreport-vlm-bench-{backend}-"))
    from radreport.config import VisionTrainConfig
    from radreport.vision.images import image_paths
    from radreport.vision.training import train_vision_lora

    config = VisionTrainConfig(model=str(model_dir), backend=backend, max_steps=warmup + steps,
                               save_steps=warmup + steps + 1, logging_steps=1, **({"grad_accum": 1} if smoke else {}))
    records = study_records(images, copies=(warmup + steps) * config.grad_accum)
    timer = step_timer()
    reset_peak_memory()
    manifest = train_vision_lora(records, config, Path(tempfile.mkdtemp()), callbacks=[timer]).manifest
    seconds = sum(timer.seconds[warmup:])
    per_step = config.grad_accum * config.batch_size
    timed = records["images"].iloc[warmup * per_step:(warmup + steps) * per_step]
    return {"backend": backend, "step_seconds": round(seconds / steps, 2),
            "images_per_s": round(sum(len(image_paths(i)) for i in timed) / seconds, 2),
            "peak_memory_gb": round(peak_memory_gb(), 2), "trainable_share": manifest["summary"]["trainable_share"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10, help="timed optimizer steps")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    parser.add_argument("--model-dir", default=str(Path(tempfile.gettempdir()) / "llava-next-7b-random"))
    parser.add_argument("--images", default=str(ROOT.parent / "shared/data/iu_xray_images_sample"))
    parser.add_argument("--smoke", action="store_true", help="CPU, tiny model, hf-qlora only: the code path, not speed")
    parser.add_argument("--backends", default="hf-qlora,unsloth", help="comma-separated, run in this order")
    parser.add_argument("--backend", help=argparse.SUPPRESS)  # internal: run one backend in this process
    args = parser.parse_args()
    model_dir = Path(args.model_dir)
    if args.backend:
        print(json.dumps(run_backend(args.backend, model_dir, Path(args.images), args.steps, args.warmup, args.smoke)))
        return
    import torch

    from tests.tiny_llava import build_tiny_llava

    if args.smoke:
        args.steps, args.warmup = 2, 1
        model_dir = build_tiny_llava(Path(tempfile.mkdtemp(prefix="radreport-smoke-")) / "tiny-llava")
        device, backends = "cpu (smoke)", ("hf-qlora",)
    elif not torch.cuda.is_available():
        raise SystemExit("benchmarks/train_vlm_gpu.py needs an NVIDIA GPU (or --smoke)")
    else:
        build_tiny_llava(model_dir, vision=CLIP_L_336, text=MISTRAL_7B, grid=GRID, device="cuda")
        torch.cuda.empty_cache()
        device, backends = torch.cuda.get_device_name(0), tuple(args.backends.split(","))
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0],
           **({"RADREPORT_QLORA_ON_CPU": "1"} if args.smoke else {})}
    results, failures = {}, {"unsloth": "not run: Unsloth needs an NVIDIA GPU"} if args.smoke else {}
    for backend in backends:
        out = subprocess.run([sys.executable, __file__, "--backend", backend, "--steps", str(args.steps), "--warmup",
                              str(args.warmup), "--model-dir", str(model_dir), "--images", args.images,
                              *(["--smoke"] if args.smoke else [])], stdout=subprocess.PIPE, text=True, env=env)
        if out.returncode:
            failures[backend] = f"exit {out.returncode} (its log is above)"
            continue
        results[backend] = json.loads(out.stdout.strip().splitlines()[-1])
    shape = "tiny LLaVA-Next" if args.smoke else "LLaVA-Next-7B shape, random weights, 4-bit"
    print(f"{device}; {shape}, LoRA r=16, {args.steps} timed steps after {args.warmup}")
    print(f"{'backend':<10} {'s/step':>7} {'images/s':>9} {'peak GB':>8}")
    for backend, r in results.items():
        print(f"{backend:<10} {r['step_seconds']:>7.2f} {r['images_per_s']:>9.2f} {r['peak_memory_gb']:>8.1f}")
    figures = {"device": device, "smoke": args.smoke,
               **{k: v for k, v in results.get("hf-qlora", {}).items() if k != "backend"}}
    figures.update({f"unsloth_{k}": v for k, v in results.get("unsloth", {}).items() if k != "backend"})
    figures["failures"] = failures
    print(json.dumps(figures))
    if not results:
        raise SystemExit("every backend failed")

if __name__ == "__main__":
    main()
