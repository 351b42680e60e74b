"""What each ingredient of the judge gives, on the texts a preference run sampled (no training): for k = 2..K samples
per study and with the length term on and off, how many pairs pass the margin, how long the chosen and rejected
texts are against the references, and the best-of-k text's clinical F1, abnormal recall and ROUGE-L (the headroom
a perfect preference learner could reach on these studies) beside the first sample's (one draw at temperature).

    .venv/bin/python benchmarks/preference_data.py --home DIR [--config configs/iu_xray_preference.yaml]

Reads the `candidates` artifact of the newest `radreport_preference` run in that state directory. Last line: JSON
with pairs_by_k, pairs_length_term_off, best_of_k and first_sample (corpus metrics) and mean_words.
"""

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def latest_candidates(home: str):
    os.environ["RADREPORT_HOME"] = home
    from ops.env import configure

    configure(home)
    from zenml.client import Client

    run = Client().get_pipeline("radreport_preference").last_run
    return run.steps["sample_candidates"].outputs["candidates"][0].load()


def corpus(references: list[str], texts: list[str]) -> dict:
    from radreport.metrics.clinical import ClinicalMetrics
    from radreport.metrics.overlap import rouge

    scores = ClinicalMetrics().score(references, texts)
    return {"clinical_f1_micro": round(scores["clinical_f1_micro"], 4),
            "abnormal_recall": round(scores["abnormal_recall"], 4),
            "rougeL": round(sum(rouge(references, texts)["rougeL"]) / len(texts), 4),
            "mean_words": round(sum(len(t.split()) for t in texts) / len(texts), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", required=True)
    parser.add_argument("--config", default="configs/iu_xray_preference.yaml")
    args = parser.parse_args()

    from radreport.config import load_config
    from radreport.preference.judge import best_worst_pairs, judged

    cfg = load_config(args.config).preference
    candidates = latest_candidates(args.home)
    candidates["draw"] = candidates.groupby("report_id").cumcount()
    k_max = int(candidates["draw"].max()) + 1
    references = candidates.drop_duplicates("report_id")["reference"].tolist()
    first = candidates[candidates["draw"] == 0]["text"].tolist()
    rows, pairs_by_k, best_of_k = [], {}, {}
    for k in range(2, k_max + 1):
        scored = judged(candidates[candidates["draw"] < k], cfg)
        pairs = best_worst_pairs(scored, cfg.margin)
        best = scored.loc[scored.groupby("report_id", sort=False)["reward"].idxmax()]
        pairs_by_k[k], best_of_k[k] = len(pairs), corpus(best["reference"].tolist(), best["text"].tolist())
        rows.append((f"k={k}, length term {cfg.length_weight}", len(pairs), pairs, best_of_k[k]))
    no_length = judged(candidates, cfg.model_copy(update={"length_weight": 0.0}))
    pairs_off = best_worst_pairs(no_length, cfg.margin)
    best_off = no_length.loc[no_length.groupby("report_id", sort=False)["reward"].idxmax()]
    rows.append((f"k={k_max}, length term off", len(pairs_off), pairs_off,
                 corpus(best_off["reference"].tolist(), best_off["text"].tolist())))
    first_sample = corpus(references, first)
    reference_words = sum(len(r.split()) for r in references) / len(references)

    def words(texts) -> float:
        return round(sum(len(t.split()) for t in texts) / max(len(texts), 1), 2)

    print(f"{len(references)} studies, {k_max} samples each; margin {cfg.margin}; reference mean words "
          f"{reference_words:.2f}; one sample: {first_sample}")
    print(f"{'judge':<28}{'pairs':>6}{'chosen words':>14}{'rejected words':>16}{'best-of-k F1':>14}"
          f"{'abn. recall':>12}{'ROUGE-L':>9}")
    for label, n, pairs, best in rows:
        print(f"{label:<28}{n:>6}{words(pairs['chosen']):>14}{words(pairs['rejected']):>16}"
              f"{best['clinical_f1_micro']:>14}{best['abnormal_recall']:>12}{best['rougeL']:>9}")
    print(json.dumps({"studies": len(references), "pairs_by_k": pairs_by_k, "pairs_length_term_off": len(pairs_off),
                      "best_of_k": best_of_k, "first_sample": first_sample,
                      "mean_words": {"reference": round(reference_words, 2),
                                     "chosen": words(rows[k_max - 2][2]["chosen"]),
                                     "rejected": words(rows[k_max - 2][2]["rejected"]),
                                     "chosen_length_term_off": words(pairs_off["chosen"])}}))


if __name__ == "__main__":
    main()
