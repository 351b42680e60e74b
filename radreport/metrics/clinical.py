"""Clinical correctness between generated and reference reports, from the observation labeler's labels.

Convention (as CheXbert-label F1 is computed in the literature, with our labeler in place of CheXbert): a report
asserts an observation when it is labelled positive (or uncertain, when uncertain counts as positive). F1 is over
asserted observations: micro (pooled counts) and macro (mean over observations some reference asserts) across all
observations except no_finding, whose information is in `normal_agreement`; `clinical_f1_micro_5` is the usual
five-observation subset. So answering "normal" every time scores 0 on all three and on abnormal-case recall.
"""

import pandas as pd

from radreport.clinical.labeler import FINDINGS, NO_FINDING, OBSERVATIONS, Labeler, positive_set

SCORED = tuple(name for name in OBSERVATIONS if name != NO_FINDING)
CHEXBERT_5 = ("atelectasis", "cardiomegaly", "consolidation", "edema", "pleural_effusion")


def f1(tp: int, fp: int, fn: int) -> float:
    return float(2 * tp / (2 * tp + fp + fn)) if tp else 0.0


def counts(refs: list[set[str]], hyps: list[set[str]]) -> pd.DataFrame:
    """Per scored observation: true/false positives, false negatives, support and F1 over paired asserted sets."""
    rows = {}
    for name in SCORED:
        tp = sum(name in r and name in h for r, h in zip(refs, hyps))
        fp = sum(name not in r and name in h for r, h in zip(refs, hyps))
        fn = sum(name in r and name not in h for r, h in zip(refs, hyps))
        rows[name] = {"tp": tp, "fp": fp, "fn": fn, "support": tp + fn, "f1": f1(tp, fp, fn)}
    return pd.DataFrame.from_dict(rows, orient="index")


class ClinicalMetrics:
    def __init__(self, uncertain_as: str = "positive", labeler: Labeler | None = None):
        if uncertain_as not in ("positive", "negative"):
            raise ValueError(f"uncertain_as={uncertain_as!r}: choose positive or negative")
        self.uncertain_as = uncertain_as
        self._labeler = labeler

    @property
    def labeler(self) -> Labeler:
        if self._labeler is None:
            self._labeler = Labeler()
        return self._labeler

    @property
    def description(self) -> str:
        return (f"clinical: rule-based observation labeler (spaCy + negspacy NegEx), {len(SCORED)} observations "
                f"(14 CheXpert less no_finding, plus IU X-Ray findings); uncertain counted as {self.uncertain_as}; "
                "micro/macro F1 exclude no_finding; micro_5 = atelectasis, cardiomegaly, consolidation, edema, "
                "pleural effusion")

    def asserted(self, texts: list[str]) -> list[set[str]]:
        return [positive_set(labels, self.uncertain_as) - {NO_FINDING} for labels in self.labeler.label(texts)]

    def per_observation(self, references: list[str], hypotheses: list[str]) -> pd.DataFrame:
        return counts(self.asserted(references), self.asserted(hypotheses))

    def per_example(self, references: list[str], hypotheses: list[str]) -> list[float]:
        """Each example's F1 between the observations both texts assert (1 when neither asserts any)."""
        return [f1(len(r & h), len(h - r), len(r - h)) if r or h else 1.0
                for r, h in zip(self.asserted(references), self.asserted(hypotheses))]

    def score(self, references: list[str], hypotheses: list[str]) -> dict[str, float]:
        refs, hyps = self.asserted(references), self.asserted(hypotheses)
        table = counts(refs, hyps)
        five = table.loc[list(CHEXBERT_5)].sum()
        supported = table[table["support"] > 0]
        abnormal = [(r & set(FINDINGS), h & set(FINDINGS)) for r, h in zip(refs, hyps)]
        recalled = [bool(r & h) for r, h in abnormal if r]
        return {"clinical_f1_micro": f1(*table[["tp", "fp", "fn"]].sum()),
                "clinical_f1_macro": float(supported["f1"].mean()) if len(supported) else 0.0,
                "clinical_f1_micro_5": f1(five["tp"], five["fp"], five["fn"]),
                "abnormal_recall": sum(recalled) / len(recalled) if recalled else 0.0,
                "normal_agreement": sum(bool(r) == bool(h) for r, h in abnormal) / len(abnormal)}
