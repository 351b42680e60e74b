"""A served model as the structurer: `structure_findings`' LLM client (response_format json_schema) against
`run.py serve` answering with a registered findings_to_region_json version (configs/structuring_model.yaml).

    .venv/bin/python benchmarks/structuring_model.py --name radreport-findings-to-region-json-iu-xray [--version 1]

Region agreement on the 170 hand-labelled sentences of tests/fixtures/region_gold.jsonl (each sent as a report),
beside the rule-based structurer; then reports/s on distinct IU X-Ray test-split findings. Repairs count what the
client had to fix (sentences missing, invented, duplicated); fallbacks, reports left to the rules after retries.
Last line: JSON with stream_equals_completion, model_agreement, unconstrained_agreement (with --version), rules_agreement, reports_per_s, reports, repaired, fallbacks, retries (answers
that were invalid or timed out, asked again).
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
GOLD = ROOT / "tests" / "fixtures" / "region_gold.jsonl"


def structured(findings: list[str], base_url: str, model: str, max_tokens: int) -> tuple[list[dict], dict, float]:
    from radreport.config import StructuringConfig
    from radreport.structuring.cache import StructuringCache
    from radreport.structuring.llm import LLMStructurer

    with tempfile.TemporaryDirectory() as tmp:
        # the first schema-constrained answer also builds the decoder's vocabulary table: a long first request
        cfg = StructuringConfig(backend="llm", base_url=base_url, model=model, concurrency=2, max_retries=1,
                                timeout_s=600, max_tokens=max_tokens, cache_path=str(Path(tmp) / "cache.sqlite"))
        cache = StructuringCache(cfg.cache_path)
        structurer = LLMStructurer(cfg, cache)
        started = time.perf_counter()
        results = structurer.run(findings)
        seconds = time.perf_counter() - started
        cache.close()
    return results, structurer.stats.as_metrics(), seconds


def stream_matches(base_url: str, model: str, findings: str) -> bool:
    """The official client's plain completion and its stream give the same text for the same findings."""
    import openai

    client = openai.OpenAI(base_url=base_url, api_key="unused")
    messages = [{"role": "user", "content": findings}]
    whole = client.chat.completions.create(model=model, messages=messages, max_tokens=256).choices[0].message.content
    pieces = client.chat.completions.create(model=model, messages=messages, max_tokens=256, stream=True)
    return whole == "".join(chunk.choices[0].delta.content or "" for chunk in pieces if chunk.choices)


def unconstrained_regions(name: str, version: str, sentences: list[str]) -> list[str]:
    """The same model in-process, batched, no constrained decoding: the region of each sentence where its answer is
    valid JSON naming it in one region, else 'invalid'. Separates what the model learnt from what the decoder does."""
    from radreport.inference.checkpoint_model import CheckpointModel
    from radreport.paths import home
    from radreport.structuring.llm import RegionSentences
    from radreport.training.checkpoints import CheckpointSet

    model = CheckpointModel(CheckpointSet(str(home() / "serving" / f"{name}-v{version}")))
    regions = []
    for sentence, answer in zip(sentences, model.generate(sentences, batch_size=8, max_new_tokens=96)):
        try:
            placed = [r for r, s in RegionSentences.model_validate_json(answer).model_dump().items() if sentence in s]
        except ValueError:
            placed = []
        regions.append(placed[0] if len(placed) == 1 else "invalid")
    return regions


def region_of_result(result) -> str:
    return next(region for region, sentences in result.regions.items() if sentences)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", required=True, help="registered findings_to_region_json model")
    parser.add_argument("--version", default=None, help="version (default: the champion)")
    parser.add_argument("--data", default=str(ROOT.parent / "shared/data/iu_xray"))
    parser.add_argument("--reports", type=int, default=20, help="IU X-Ray test findings timed")
    parser.add_argument("--gold", type=int, default=None, help="hand-labelled sentences sent (default: all 170)")
    parser.add_argument("--max-tokens", type=int, default=256, help="answer budget per request")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()

    from ops.dashboard import Server, running
    from ops.env import configure

    configure(None)
    from radreport.ingest import ingest
    from radreport.structuring import region_of

    all_gold = [json.loads(line) for line in GOLD.read_text().splitlines()]
    gold = all_gold[:args.gold]
    reports = ingest(args.data).reports
    findings = list(dict.fromkeys(f for f in reports[reports["split"] == "test"]["findings"] if f))[:args.reports]
    command = [sys.executable, str(ROOT / "run.py"), "serve", "--name", args.name, "--port", str(args.port),
               *(["--version", args.version] if args.version else [])]
    server = Server("radreport serve", command, args.port)
    with running([server], Path(tempfile.mkdtemp(prefix="radreport-structuring-model-"))):
        model = f"{args.name}@{args.version or 'champion'}"
        streamed_equal = stream_matches(f"{server.url}/v1", model, findings[0])
        gold_results, gold_stats, _ = structured([g["sentence"] for g in gold], f"{server.url}/v1", model, args.max_tokens)
        _, speed_stats, seconds = structured(findings, f"{server.url}/v1", model, args.max_tokens)

    by_model = [region_of_result(r) for r in gold_results]
    free = unconstrained_regions(args.name, args.version, [g["sentence"] for g in all_gold]) if args.version else []
    by_rules = [region_of(g["sentence"]) for g in gold]
    model_agreement = sum(p == g["region"] for p, g in zip(by_model, gold)) / len(gold)
    rules_agreement = sum(p == g["region"] for p, g in zip(by_rules, gold)) / len(gold)
    repaired = sum(speed_stats[k] for k in ("repaired_missing", "repaired_invented", "repaired_duplicated"))
    print(f"{model} served by run.py serve on 2 CPU cores, concurrency 2, json_schema by constrained decoding")
    print(f"{'structurer':<28} {'agreement':>9}  (hand labels, {len(gold)} sentences)")
    print(f"{'served model':<28} {model_agreement:>9.3f}  repairs {gold_stats['repaired_missing']} missing, "
          f"{gold_stats['repaired_invented']} invented, fallbacks {gold_stats['fallbacks']}")
    print(f"{'rule-based':<28} {rules_agreement:>9.3f}")
    free_agreement = sum(p == g["region"] for p, g in zip(free, gold)) / len(gold) if free else None
    if free:
        everywhere = sum(p == g["region"] for p, g in zip(free, all_gold)) / len(all_gold)
        print(f"{'same model, unconstrained':<28} {free_agreement:>9.3f}  (all {len(all_gold)}: {everywhere:.3f}; "
              f"{free.count('invalid')} answers not valid JSON naming the sentence once; in-process, batch 8)")
        print(f"{'rule-based, all':<28} {sum(region_of(g['sentence']) == g['region'] for g in all_gold) / len(all_gold):>9.3f}")
    print(f"{len(findings)} IU test findings: {seconds:.1f} s, {len(findings) / seconds:.2f} reports/s; "
          f"{speed_stats['calls']} calls ({speed_stats['retries']} retries), repairs {speed_stats['repaired_missing']} missing / "
          f"{speed_stats['repaired_invented']} invented / {speed_stats['repaired_duplicated']} duplicated, "
          f"fallbacks {speed_stats['fallbacks']}")
    print(f"the official openai client: a completion and its stream {'agree' if streamed_equal else 'DIFFER'}")
    print(json.dumps({"stream_equals_completion": streamed_equal, "model_agreement": round(model_agreement, 3),
                      "unconstrained_agreement": round(free_agreement, 3) if free else None, "rules_agreement": round(rules_agreement, 3),
                      "reports_per_s": round(len(findings) / seconds, 3), "reports": len(findings),
                      "repaired": repaired, "fallbacks": speed_stats["fallbacks"],
                      "retries": speed_stats["retries"] + gold_stats["retries"]}))


if __name__ == "__main__":
    main()
