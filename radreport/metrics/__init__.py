"""The evaluation metric suite: BLEU-1..4, ROUGE-1/2/L, METEOR, BERTScore (each equal to its reference library's own
result on the same inputs), clinical finding-level F1 and, with a judge endpoint, GREEN; per example, per corpus,
per region; and a paired significance test."""

import numpy as np
import pandas as pd

from radreport.clinical.labeler import MODALITIES as LABELED_MODALITIES
from radreport.config import GreenJudgeConfig
from radreport.errors import RadreportError
from radreport.metrics.clinical import ClinicalMetrics
from radreport.metrics.overlap import ROUGE_TYPES, corpus_bleu, rouge, sentence_bleu
from radreport.structuring.rules import structure
from radreport.vocabulary import CLINICAL_METRICS, METRIC_GROUPS

EXAMPLE_COLUMNS = {"bleu": ("sentence_bleu",), "rouge": ROUGE_TYPES, "meteor": ("meteor",),
                   "bertscore": ("bertscore_p", "bertscore_r", "bertscore_f1"), "clinical": ("clinical_f1",),
                   "green": ("green",)}
CORPUS_ONLY = ("sentence_bleu", "clinical_f1")  # per-example forms of corpus statistics: not averaged into the corpus


def example_column(metric: str) -> str:
    """The per-example score that stands for a corpus metric in a paired significance test."""
    if metric.startswith("bleu"):
        return "sentence_bleu"
    if metric.startswith("clinical_") or metric in ("abnormal_recall", "normal_agreement"):
        return "clinical_f1"
    return metric


class MetricSuite:
    def __init__(self, groups=METRIC_GROUPS, bertscore_model: str | None = None, bertscore_layers: int | None = None,
                 bertscore_baseline: str | None = None, clinical_uncertain_as: str = "positive",
                 green: GreenJudgeConfig | None = None, bertscore_cache: str | None = None,
                 modalities=("chest_xray",)):
        unknown = set(groups) - set(METRIC_GROUPS)
        if unknown:
            raise ValueError(f"unknown metrics {sorted(unknown)}; choose from {METRIC_GROUPS}")
        unlabeled = sorted(set(modalities) - set(LABELED_MODALITIES))
        if "clinical" in groups and unlabeled and set(modalities) & set(LABELED_MODALITIES):
            raise RadreportError(f"the reports mix {', '.join(sorted(set(modalities) & set(LABELED_MODALITIES)))}, "
                                 f"which the clinical labeler covers, with {', '.join(unlabeled)}, which it does not: "
                                 "evaluate them separately, or leave clinical out of the metrics")
        self.not_applicable = CLINICAL_METRICS if "clinical" in groups and unlabeled else ()
        if self.not_applicable:  # absent, never 0: a CT model has not missed every chest finding
            groups = [g for g in groups if g != "clinical"]
            self.not_applicable_note = (f"clinical: not applicable to {', '.join(unlabeled)} reports (the observation "
                                        f"labeler's vocabulary covers {', '.join(LABELED_MODALITIES)}); no clinical "
                                        "figures are reported")
        self.bertscore_args = (bertscore_model, bertscore_layers, bertscore_baseline)
        self.bertscore_cache = bertscore_cache
        self._bertscore = None
        self.clinical = ClinicalMetrics(clinical_uncertain_as)  # its labeler loads on first use
        if green:
            from radreport.metrics.green import GreenJudge

            self.green = GreenJudge(green)
        else:
            self.green = None
        self.groups = tuple(groups) + (("green",) if self.green else ())

    @property
    def bertscore(self):
        if self._bertscore is None:  # loads a model: only when asked for
            from radreport.metrics.bertscore import CachedBERTScore

            self._bertscore = CachedBERTScore(*self.bertscore_args, cache_path=self.bertscore_cache)
        return self._bertscore

    def per_example(self, references: list[str], hypotheses: list[str]) -> pd.DataFrame:
        check_lengths(references, hypotheses)
        columns = {}
        if "bleu" in self.groups:
            columns["sentence_bleu"] = sentence_bleu(references, hypotheses)
        if "rouge" in self.groups:
            columns.update(rouge(references, hypotheses))
        if "meteor" in self.groups:
            from radreport.metrics.meteor import meteor

            columns["meteor"] = meteor(references, hypotheses)
        if "bertscore" in self.groups:
            columns.update(self.bertscore.score(references, hypotheses))
        if "clinical" in self.groups:
            columns["clinical_f1"] = self.clinical.per_example(references, hypotheses)
        if self.green:
            columns["green"] = self.green.score(references, hypotheses)
        return pd.DataFrame(columns)

    def score(self, references: list[str], hypotheses: list[str]) -> tuple[dict, pd.DataFrame]:
        """(corpus-level metrics, per-example table). BLEU and the clinical F1s are corpus statistics; the rest are
        means over examples."""
        examples = self.per_example(references, hypotheses)
        corpus = corpus_bleu(references, hypotheses) if "bleu" in self.groups else {}
        corpus.update({c: float(examples[c].mean()) for c in examples.columns if c not in CORPUS_ONLY})
        if "clinical" in self.groups:
            corpus.update(self.clinical.score(references, hypotheses))
        return corpus, examples

    @property
    def notes(self) -> list[str]:
        """How the configured metrics were computed, for reports."""
        return ([self.bertscore.description] if "bertscore" in self.groups else []) + \
               ([self.clinical.description] if "clinical" in self.groups else []) + \
               ([self.not_applicable_note] if self.not_applicable else []) + \
               [self.green.description if self.green else "GREEN: skipped, no judge configured (eval.green)"]

    def by_region(self, references: list[str], hypotheses: list[str], split=structure) -> dict[str, dict | str]:
        """Scores per anatomical region: both texts split into regions (by the structurer; `parse_regions` for
        region-headed reports; a list: each example's own, for reports of several schemes), each region scored on
        the examples where either side mentions it (a side with nothing there scores 0); 'absent' where neither
        side ever does."""
        splits = split if isinstance(split, list) else [split] * len(references)
        refs = [s(r) for s, r in zip(splits, references)]
        hyps = [s(h) for s, h in zip(splits, hypotheses)]
        results = {}
        for region in dict.fromkeys(r for regions in refs for r in regions):
            pairs = [(" ".join(r.get(region, [])), " ".join(h.get(region, []))) for r, h in zip(refs, hyps)
                     if r.get(region) or h.get(region)]
            if not pairs:
                results[region] = "absent"
                continue
            both = [(r, h) for r, h in pairs if r and h]
            totals = dict.fromkeys((c for g in self.groups for c in EXAMPLE_COLUMNS[g]), 0.0)
            if both:
                totals.update(self.per_example(*map(list, zip(*both))).sum().to_dict())
            results[region] = {"n": len(pairs), **{k: float(v) / len(pairs) for k, v in totals.items()}}
        return results


def check_lengths(references: list[str], hypotheses: list[str]) -> None:
    if len(references) != len(hypotheses) or not references:
        raise ValueError(f"need equal, non-zero numbers of references and hypotheses "
                         f"({len(references)} vs {len(hypotheses)})")


def paired_randomization(a, b, trials: int = 10_000, seed: int = 0) -> dict:
    """Approximate randomisation test on per-example scores of two systems on the same examples:
    how often does randomly swapping each example's pair produce a mean difference at least as large?"""
    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    rng = np.random.default_rng(seed)
    signs = rng.choice([-1.0, 1.0], size=(trials, diff.size))
    observed = abs(diff.mean())
    extreme = int((np.abs((signs * diff).mean(axis=1)) >= observed - 1e-12).sum())
    return {"mean_difference": float(diff.mean()), "p_value": (extreme + 1) / (trials + 1), "trials": trials}
