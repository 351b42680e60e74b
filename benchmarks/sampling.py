"""k sampled impressions per IU X-Ray training study, as the preference judge draws them: `model.generate` with
`num_return_sequences=k` (each prompt encoded k times, finished sequences padded until the longest ends) against
radreport's sampler (`radreport/preference/sampling.py`: each prompt encoded once, its cache repeated k times,
finished sequences dropped), on the same retrieval prompts, batch, temperature and budget.

    .venv/bin/python benchmarks/sampling.py --home DIR --name MODEL [--version N] [--studies 32] [--k 4]
        [--batch-size 8] [--max-new-tokens 60]
    .venv/bin/python benchmarks/sampling.py --smoke     # the tiny test Llama, an untrained adapter-free set

Tokens counted are the generated ones up to and including EOS. Last line: JSON with generate_seconds,
sampler_seconds, speedup, generate_tokens_per_s, sampler_tokens_per_s and studies.
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def champion_of(home: str, name: str, version: int | None, out: Path):
    import os

    os.environ["RADREPORT_HOME"] = home
    from ops.env import configure

    configure(home)
    from ops.stack import bootstrap, registry_client
    from radreport.registry.history import real_champion
    from radreport.registry.store import download_checkpoint

    bootstrap()
    client = registry_client()
    return download_checkpoint(client, name, version or real_champion(client, name), out)


def iu_records():
    from radreport.config import DataConfig, PipelineConfig
    from radreport.recipe import instruction_records

    return instruction_records(PipelineConfig(data=DataConfig(path=str(ROOT.parent / "shared/data/iu_xray"))))


def with_generate(model, tokenizer, prompts: list[str], k: int, batch_size: int, max_new_tokens: int) -> list[str]:
    import torch

    texts = []
    tokenizer.padding_side = "left"
    torch.manual_seed(0)
    for start in range(0, len(prompts), batch_size):
        inputs = tokenizer(prompts[start:start + batch_size], return_tensors="pt", padding=True)
        with torch.inference_mode():
            out = model.generate(**inputs, do_sample=True, temperature=0.8, top_p=0.95, num_return_sequences=k,
                                 max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id,
                                 eos_token_id=tokenizer.eos_token_id)
        texts += tokenizer.batch_decode(out[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
    return texts


def generated_tokens(tokenizer, texts: list[str], max_new_tokens: int) -> int:
    return sum(min(len(tokenizer(t, add_special_tokens=False)["input_ids"]) + 1, max_new_tokens) for t in texts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home"), parser.add_argument("--name"), parser.add_argument("--version", type=int)
    parser.add_argument("--studies", type=int, default=32)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=60)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()

    from radreport.inference.adapters import TextAdapter
    from radreport.preference.judge import choose_studies, study_prompts
    from radreport.preference.sampling import sample

    with tempfile.TemporaryDirectory() as tmp:
        if args.smoke:
            from tests.tiny_model import build_tiny_model
            from radreport.training.checkpoints import CheckpointSet

            model_dir = build_tiny_model(Path(tmp) / "tiny")
            (Path(tmp) / "set").mkdir()
            (Path(tmp) / "set" / "manifest.json").write_text(json.dumps(
                {"base_model": str(model_dir), "task": "findings_to_impression", "instruction": "Write the impression."}))
            (Path(tmp) / "set" / "tokenizer").symlink_to(model_dir)
            checkpoints, step = CheckpointSet(str(Path(tmp) / "set")), None
            args.studies, args.max_new_tokens = min(args.studies, 8), min(args.max_new_tokens, 8)
        else:
            checkpoints = champion_of(args.home, args.name, args.version, Path(tmp) / "champion")
            step = checkpoints.steps[0]
        adapter = TextAdapter(checkpoints, step)
        studies = choose_studies(iu_records(), args.studies, seed=0)
        prompts = study_prompts(checkpoints, studies)
        model, tokenizer = adapter.model, adapter.tokenizer
        sample(model, tokenizer, prompts[:2], 2, 4)  # warm-up
        started = time.perf_counter()
        naive = with_generate(model, tokenizer, prompts, args.k, args.batch_size, args.max_new_tokens)
        generate_seconds = time.perf_counter() - started
        started = time.perf_counter()
        ours = [t for texts in sample(model, tokenizer, prompts, args.k, args.max_new_tokens, 0.8, 0.95,
                                      args.batch_size) for t in texts]
        sampler_seconds = time.perf_counter() - started
    rows = {"generate(num_return_sequences)": (generate_seconds, generated_tokens(tokenizer, naive, args.max_new_tokens)),
            "radreport sampler": (sampler_seconds, generated_tokens(tokenizer, ours, args.max_new_tokens))}
    print(f"{args.studies} studies x {args.k} samples, batch {args.batch_size}, up to {args.max_new_tokens} tokens")
    print(f"{'method':<32}{'seconds':>10}{'tokens':>10}{'tokens/s':>10}")
    for method, (seconds, tokens) in rows.items():
        print(f"{method:<32}{seconds:>10.1f}{tokens:>10}{tokens / seconds:>10.1f}")
    print(json.dumps({"generate_seconds": round(generate_seconds, 1), "sampler_seconds": round(sampler_seconds, 1),
                      "speedup": round(generate_seconds / sampler_seconds, 2),
                      "generate_tokens_per_s": round(rows["generate(num_return_sequences)"][1] / generate_seconds, 1),
                      "sampler_tokens_per_s": round(rows["radreport sampler"][1] / sampler_seconds, 1),
                      "studies": args.studies, "smoke": args.smoke}))


if __name__ == "__main__":
    main()
