"""Ingest throughput on 100,000 reports synthesised by repeating and varying real IU X-Ray reports.

    .venv/bin/python benchmarks/ingest.py [--iu ../shared/data/iu_xray] [--reports 100000]

Prints a table, then one line of JSON with `reports_per_s` (target >= 20,000 reports/s).
"""

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from radreport.ingest import ingest  # noqa: E402

VARIATIONS = ("", " Unchanged from prior.", " No interval change.", " Stable.")


def synthesise(iu: Path, n: int, out: Path) -> Path:
    """n rows cycling through the real reports, each with a new id, patient and a small textual variation."""
    with open(iu / "indiana_reports.csv", newline="") as f:
        real = [r for r in csv.DictReader(f) if r["findings"] or r["impression"]]
    with open(out, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["report_id", "patient_id", "indication", "comparison", "findings", "impression"])
        for i in range(n):
            r = real[i % len(real)]
            writer.writerow([f"R{i:07d}", f"P{i // 3:06d}", r["indication"], r["comparison"],
                             r["findings"] + VARIATIONS[(i // len(real)) % len(VARIATIONS)], r["impression"]])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iu", default=str(Path(__file__).resolve().parents[2] / "shared/data/iu_xray"))
    parser.add_argument("--reports", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = synthesise(Path(args.iu), args.reports, Path(tmp) / "reports.csv")
        size_mb = path.stat().st_size / 1e6
        timings = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            result = ingest(path)
            timings.append(time.perf_counter() - started)
    best = min(timings)
    print(f"{'reports':>10} {'MB':>6} {'accepted':>9} {'quarantined':>12} {'best s':>8} {'reports/s':>10}")
    print(f"{result.read:>10} {size_mb:>6.1f} {len(result.reports):>9} {len(result.quarantine):>12} "
          f"{best:>8.2f} {result.read / best:>10.0f}")
    print(json.dumps({"reports": result.read, "seconds": round(best, 3), "reports_per_s": round(result.read / best),
                      "accepted": len(result.reports), "quarantined": len(result.quarantine)}))


if __name__ == "__main__":
    main()
