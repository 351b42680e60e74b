"""Clinical labeler throughput on every IU X-Ray report (findings + impression), and its agreement with the
reports' MeSH indexing.

    .venv/bin/python benchmarks/clinical.py [--iu ../shared/data/iu_xray]

Prints the per-observation agreement table, then one line of JSON with `reports`, `seconds`, `reports_per_s`
(target >= 200 reports/s). `seconds` is labelling alone, with a fresh labeler (built beforehand, timed apart), so
repeated report texts are labelled once, as in the evaluation stage.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from radreport.clinical import Labeler  # noqa: E402
from radreport.clinical.mesh import mesh_agreement, report_texts  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iu", default=str(Path(__file__).resolve().parents[2] / "shared/data/iu_xray"))
    args = parser.parse_args()
    reports = pd.read_csv(Path(args.iu) / "indiana_reports.csv")
    texts = report_texts(reports)
    started = time.perf_counter()
    labeler = Labeler()
    build_seconds = time.perf_counter() - started
    started = time.perf_counter()
    labeler.label(texts)
    seconds = time.perf_counter() - started
    table, compared = mesh_agreement(reports, labeler)
    print(f"MeSH agreement over {compared} indexed reports (uncertain counted as positive):")
    print(table.round(3).to_string())
    print(f"\n{len(texts)} reports ({len(set(texts))} distinct texts) labelled in {seconds:.2f} s "
          f"({len(texts) / seconds:.0f} reports/s); labeler built in {build_seconds:.2f} s")
    print(json.dumps({"reports": len(texts), "distinct_texts": len(set(texts)), "seconds": round(seconds, 3),
                      "reports_per_s": round(len(texts) / seconds, 1), "build_seconds": round(build_seconds, 2)}))


if __name__ == "__main__":
    main()
