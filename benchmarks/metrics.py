"""The metric suite on 1,000 real IU X-Ray pairs versus the straightforward use of the same libraries.

    .venv/bin/python benchmarks/metrics.py [--iu ../shared/data/iu_xray] [--pairs 1000]

References are IU X-Ray findings; each "system" answers every study with another study's real findings
(different offsets into the other studies give different systems, which share some texts, as real systems'
generations do). Straightforward use: sacrebleu corpus calls, rouge-score and nltk
METEOR per pair, one bert_score call over all pairs with the model loaded once. Both give identical numbers
(checked below). Where the suite saves time: ROUGE tokenises and stems each distinct text once, METEOR stems and
looks up each word in WordNet once, BERTScore embeds each distinct text once, batched by token length, and on CPU
multiplies in oneDNN rather than MKL, which takes a slow path on AMD CPUs (`radreport/metrics/bertscore.py`).
Three workloads: one system from cold; the evaluation stage's shape — several systems scored
against the same references — where the suite embeds and tokenises each reference once; and one system in a fresh
process whose on-disk BERTScore cache holds the references from an earlier run (every scheduled re-evaluation on a
fixed held-out split), where only the new hypotheses are embedded.

Last line: JSON with pairs, suite_seconds, naive_seconds, speedup_vs_naive (one system, cold), the same for the
three-system workload (workload_*) and for the warm-cache case (warm_*).
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sacrebleu  # noqa: E402
from bert_score import BERTScorer  # noqa: E402
from nltk.translate.meteor_score import meteor_score  # noqa: E402
from rouge_score import rouge_scorer  # noqa: E402

from radreport.ingest import ingest  # noqa: E402
import radreport.metrics.meteor as meteor_module  # noqa: E402
import radreport.metrics.overlap as overlap  # noqa: E402
from radreport.metrics import MetricSuite  # noqa: E402
from radreport.metrics.meteor import tokenize  # noqa: E402
from radreport.vocabulary import LIBRARY_GROUPS  # noqa: E402

SYSTEMS = 3


def naive(scorer, references: list[str], hypotheses: list[str]) -> dict:
    out = {f"bleu{n}": sacrebleu.BLEU(max_ngram_order=n).corpus_score(hypotheses, [references]).score for n in range(1, 5)}
    rouge = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    scores = [rouge.score(r, h) for r, h in zip(references, hypotheses)]
    for kind in ("rouge1", "rouge2", "rougeL"):
        out[kind] = sum(s[kind].fmeasure for s in scores) / len(scores)
    out["meteor"] = sum(meteor_score([tokenize(r)], tokenize(h)) for r, h in zip(references, hypotheses)) / len(references)
    p, r, f = scorer.score(hypotheses, references)
    out.update(bertscore_p=p.mean().item(), bertscore_r=r.mean().item(), bertscore_f1=f.mean().item())
    return out


def timed(fn, *args):
    started = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - started


def warm_single_system(references: list[str], systems: list[list[str]]) -> tuple[dict, float]:
    """An earlier run scored system 1 and left its embeddings on disk; a fresh suite (in-memory caches emptied,
    as in a new process) scores system 2 against the same references."""
    with tempfile.TemporaryDirectory() as tmp:
        cache = str(Path(tmp) / "bertscore.sqlite")
        MetricSuite(LIBRARY_GROUPS, bertscore_cache=cache).score(references, systems[0])
        overlap._tokens.cache_clear()
        overlap._rouge_pair.cache_clear()
        meteor_module._stemmer = meteor_module._wordnet = None
        suite = MetricSuite(LIBRARY_GROUPS, bertscore_cache=cache)
        suite.bertscore  # the model loads before timing, as in the other workloads
        meteor_module.meteor(["warm"], ["up"])
        (result, _), seconds = timed(suite.score, references, systems[1])
    return result, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iu", default=str(ROOT.parent / "shared/data/iu_xray"))
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--section", choices=["findings", "impression"], default="findings",
                        help="which report section the pairs are made of")
    args = parser.parse_args()
    reports = ingest(args.iu).reports
    texts = [t for t in reports[args.section] if t]
    n = args.pairs
    references = texts[:n]
    pool = texts[n:]  # hypotheses never come from the reference studies
    systems = [[pool[(i + k * 700) % len(pool)] for i in range(n)] for k in range(SYSTEMS)]

    suite = MetricSuite(LIBRARY_GROUPS)
    bertscore = suite.bertscore  # both models load before timing
    scorer = BERTScorer(model_type=bertscore.model_path, num_layers=bertscore.num_layers, lang="en")
    meteor_score([["warm"]], ["up"])  # load WordNet for both before timing: nltk's for naive,
    meteor_module.meteor(["warm"], ["up"])  # the suite's own lookup for the suite
    naive_results, naive_times, suite_results, suite_times = [], [], [], []
    for hypotheses in systems:
        result, seconds = timed(naive, scorer, references, hypotheses)
        naive_results.append(result)
        naive_times.append(seconds)
    for hypotheses in systems:
        (result, _), seconds = timed(suite.score, references, hypotheses)
        suite_results.append(result)
        suite_times.append(seconds)
    warm_result, warm_seconds = warm_single_system(references, systems)
    suite_results.append(warm_result)
    naive_results.append(naive_results[1])
    worst = max(abs(a[k] - b[k]) for a, b in zip(naive_results, suite_results) for k in a)
    print(f"{n} IU X-Ray pairs per system (references: {args.section}; hypotheses: other studies' {args.section})")
    print(f"{'system':>7} {'naive s':>8} {'suite s':>8} {'speedup':>8}")
    for k in range(SYSTEMS):
        print(f"{k + 1:>7} {naive_times[k]:>8.2f} {suite_times[k]:>8.2f} {naive_times[k] / suite_times[k]:>7.2f}x")
    print(f"{'all':>7} {sum(naive_times):>8.2f} {sum(suite_times):>8.2f} {sum(naive_times) / sum(suite_times):>7.2f}x")
    print(f"{'warm':>7} {naive_times[1]:>8.2f} {warm_seconds:>8.2f} {naive_times[1] / warm_seconds:>7.2f}x"
          "   (system 2 in a fresh suite; references' embeddings on disk from an earlier run)")
    print(f"largest difference between naive and suite numbers: {worst:.2e}")
    print(json.dumps({"pairs": n, "suite_seconds": round(suite_times[0], 2), "naive_seconds": round(naive_times[0], 2),
                      "speedup_vs_naive": round(naive_times[0] / suite_times[0], 2), "systems": SYSTEMS,
                      "workload_suite_seconds": round(sum(suite_times), 2),
                      "workload_naive_seconds": round(sum(naive_times), 2),
                      "workload_speedup_vs_naive": round(sum(naive_times) / sum(suite_times), 2),
                      "warm_suite_seconds": round(warm_seconds, 2), "warm_naive_seconds": round(naive_times[1], 2),
                      "warm_speedup_vs_naive": round(naive_times[1] / warm_seconds, 2),
                      "max_abs_difference": worst}))


if __name__ == "__main__":
    main()
