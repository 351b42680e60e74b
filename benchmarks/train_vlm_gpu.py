"""LLaVA-Next QLoRA on one NVIDIA GPU, no internet: a llava-v1.6-mistral-7b-shaped model with random weights (CLIP
ViT-L/14 at 336 px, 7B language model; speed and memory do not depend on trained weights), the seed's recipe
(4-bit, LoRA r=16 on the language model's linear layers, batch 1 x 8 accumulation), two real IU X-ray images per
study from ../shared/data/iu_xray_images_sample.

    pip install '.[gpu]'        # beside the base dependencies
    python benchmarks/train_vlm_gpu.py [--steps 10] [--model-dir /tmp/llava-next-7b-random]

hf-qlora always; Unsloth's FastVisionModel too, in its own process (importing Unsloth patches transformers), where
it loads the architecture (else its error is printed). Last line: JSON with device, step_seconds, images_per_s,
peak_memory_gb (and unsloth_* where measured).
"""

import argparse
import json
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
    from radreport.images import attach_images, csv_image_index
    from radreport.structuring.run import structure_reports
    from radreport.vision_format import vision_records

    index = csv_image_index(images / "mapping.csv", {"report_id": "iu_uid", "view": "projection"})
    mapping = pd.read_csv(images / "mapping.csv", dtype=str).drop_duplicates("iu_uid")
    reports = pd.DataFrame({"report_id": mapping["iu_uid"], "findings": mapping["findings"], "impression": "",
                            "split": "train"})
    studies, _ = attach_images(reports, index)
    records, _ = vision_records(structure_reports(studies, StructuringConfig())[0],
                                VisionTrainConfig.model_fields["prompt"].default)
    train = pd.concat([records] * copies, ignore_index=True)
    return pd.concat([train, records.head(1).assign(split="validation")], ignore_index=True)


def run_backend(backend: str, model_dir: Path, images: Path, steps: int) -> dict:
    import torch

    from ops.env import configure

    configure(tempfile.mkdtemp(prefix=f"radreport-vlm-bench-{backend}-"))
    from radreport.config import VisionTrainConfig
    from radreport.images import image_paths
    from radreport.vision_training import train_vision_lora

    config = VisionTrainConfig(model=str(model_dir), backend=backend, max_steps=steps, eval_steps=steps + 1,
                               logging_steps=1)
    records = study_records(images, copies=steps * config.grad_accum)
    torch.cuda.reset_peak_memory_stats()
    manifest = json.loads((train_vision_lora(records, config, Path(tempfile.mkdtemp())) / "radreport.json").read_text())
    seconds, studies = manifest["summary"]["train_seconds"], steps * config.grad_accum * config.batch_size
    images_seen = sum(len(image_paths(i)) for i in records["images"].head(studies))
    return {"backend": backend, "step_seconds": round(seconds / steps, 2), "images_per_s": round(images_seen / seconds, 2),
            "peak_memory_gb": round(torch.cuda.max_memory_allocated() / 2**30, 1),
            "trainable_share": manifest["summary"]["trainable_share"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--model-dir", default=str(Path(tempfile.gettempdir()) / "llava-next-7b-random"))
    parser.add_argument("--images", default=str(ROOT.parent / "shared/data/iu_xray_images_sample"))
    parser.add_argument("--backend", help=argparse.SUPPRESS)  # internal: run one backend in this process
    args = parser.parse_args()
    model_dir = Path(args.model_dir)
    if args.backend:
        print(json.dumps(run_backend(args.backend, model_dir, Path(args.images), args.steps)))
        return
    import torch

    if not torch.cuda.is_available():
        raise SystemExit("benchmarks/train_vlm_gpu.py needs an NVIDIA GPU")
    from tests.tiny_llava import build_tiny_llava

    build_tiny_llava(model_dir, vision=CLIP_L_336, text=MISTRAL_7B, grid=GRID, device="cuda")
    torch.cuda.empty_cache()
    results = {}
    for backend in ("hf-qlora", "unsloth"):
        out = subprocess.run([sys.executable, __file__, "--backend", backend, "--steps", str(args.steps),
                              "--model-dir", str(model_dir), "--images", args.images], stdout=subprocess.PIPE, text=True)
        if out.returncode:
            print(f"{backend}: failed (exit {out.returncode}); its log is above", file=sys.stderr)
            continue
        results[backend] = json.loads(out.stdout.strip().splitlines()[-1])
    device = torch.cuda.get_device_name(0)
    print(f"{device}; LLaVA-Next-7B shape, random weights, 4-bit, LoRA r=16, batch 1 x 8, {args.steps} steps")
    print(f"{'backend':<10} {'s/step':>7} {'images/s':>9} {'peak GB':>8}")
    for backend, r in results.items():
        print(f"{backend:<10} {r['step_seconds']:>7.2f} {r['images_per_s']:>9.2f} {r['peak_memory_gb']:>8.1f}")
    figures = {"device": device, **{k: v for k, v in results.get("hf-qlora", {}).items() if k != "backend"}}
    figures.update({f"unsloth_{k}": v for k, v in results.get("unsloth", {}).items() if k != "backend"})
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
