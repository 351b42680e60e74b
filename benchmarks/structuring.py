"""Structuring throughput: all IU X-Ray findings through the LLM client against a local OpenAI-compatible server
with 50 ms added latency per call at concurrency 16 (ideal: 16 / 0.05 s = 320 reports/s), a cached re-run, and
the rule-based structurer.

    .venv/bin/python benchmarks/structuring.py [--iu ../shared/data/iu_xray]

Last line: JSON with reports_per_s, fraction_of_ideal, cached_rerun_seconds, cached_rerun_calls,
rule_based_reports_per_s.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from radreport.config import StructuringConfig  # noqa: E402
from radreport.ingest import ingest  # noqa: E402
from radreport.structuring.cache import StructuringCache  # noqa: E402
from radreport.structuring.llm import LLMStructurer  # noqa: E402
from radreport.structuring.rules import structure  # noqa: E402

LATENCY_S, CONCURRENCY = 0.05, 16


def timed_run(cfg: StructuringConfig, findings: list[str]) -> tuple[float, int]:
    cache = StructuringCache(cfg.cache_path)
    started = time.perf_counter()
    structurer = LLMStructurer(cfg, cache)
    structurer.run(findings)
    seconds = time.perf_counter() - started
    cache.close()
    return seconds, structurer.stats.calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iu", default=str(ROOT.parent / "shared/data/iu_xray"))
    args = parser.parse_args()
    reports = ingest(args.iu).reports
    # Distinct texts: identical findings are asked once by design, and the ideal rate counts calls.
    findings = list(dict.fromkeys(f for f in reports["findings"] if f))
    # The server runs in its own process, as a real endpoint would, so it does not share this one's GIL.
    server = subprocess.Popen([sys.executable, "-m", "tests.openai_server", "--latency", str(LATENCY_S)],
                              cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        base_url = server.stdout.readline().strip()
        with tempfile.TemporaryDirectory() as tmp:
            cfg = StructuringConfig(backend="llm", base_url=base_url, concurrency=CONCURRENCY,
                                    cache_path=str(Path(tmp) / "cache.sqlite"))
            cold_s, cold_calls = timed_run(cfg, findings)
            cached_s, cached_calls = timed_run(cfg, findings)
    finally:
        server.terminate()
    started = time.perf_counter()
    for text in findings:
        structure(text)
    rules_s = time.perf_counter() - started
    ideal = CONCURRENCY / LATENCY_S
    rate = len(findings) / cold_s
    print(f"{len(findings)} distinct IU X-Ray findings; server latency {LATENCY_S * 1000:.0f} ms, concurrency {CONCURRENCY}")
    print(f"{'run':<22} {'seconds':>8} {'calls':>6} {'reports/s':>10}")
    print(f"{'llm, cold cache':<22} {cold_s:>8.2f} {cold_calls:>6} {rate:>10.0f}   ({rate / ideal:.0%} of ideal {ideal:.0f}/s)")
    print(f"{'llm, cached re-run':<22} {cached_s:>8.2f} {cached_calls:>6} {len(findings) / cached_s:>10.0f}")
    print(f"{'rule-based':<22} {rules_s:>8.2f} {0:>6} {len(findings) / rules_s:>10.0f}")
    print(json.dumps({"reports": len(findings), "reports_per_s": round(rate, 1), "fraction_of_ideal": round(rate / ideal, 3),
                      "cached_rerun_seconds": round(cached_s, 3), "cached_rerun_calls": cached_calls,
                      "rule_based_reports_per_s": round(len(findings) / rules_s)}))


if __name__ == "__main__":
    main()
