"""The clinical judge's reward for a text written for a study, scored against the study's reference report.

Clinical agreement comes first: the observation labeler's per-example F1 over the findings both texts assert (1
when neither asserts any; a negated finding asserted is a false positive), minus a penalty when the reference
asserts a finding and the text asserts none of its findings (the missed abnormal study, the error a radiologist
minds most: the same definition as the `abnormal_recall` metric). N-gram overlap (ROUGE-L) comes second. A length
term, |log(words / reference words)|, keeps a longer text from being a better one: a judge that rewards coverage
alone teaches a model to list everything (CheXalign saw reports grow up to 3.2x).
"""

import math

import pandas as pd

from radreport.clinical.labeler import FINDINGS
from radreport.metrics.clinical import ClinicalMetrics
from radreport.metrics.overlap import rouge

COLUMNS = ("clinical_f1", "missed_abnormal", "rougeL", "length_gap", "reward")


def length_gap(reference: str, text: str) -> float:
    """|log| of the word-count ratio: 0 at the reference's length, 0.69 at twice or half of it."""
    return abs(math.log((len(text.split()) + 1) / (len(reference.split()) + 1)))


def rewards(references: list[str], texts: list[str], cfg, clinical: ClinicalMetrics | None = None) -> pd.DataFrame:
    """One row per (reference, text) pair: each term and the reward. `cfg` carries the weights
    (overlap_weight, missed_abnormal_penalty, length_weight: a PreferenceConfig)."""
    clinical = clinical or ClinicalMetrics()
    findings = set(FINDINGS)
    asserted_refs, asserted_texts = clinical.asserted(references), clinical.asserted(texts)
    table = pd.DataFrame({
        "clinical_f1": clinical.per_example(references, texts),
        "missed_abnormal": [float(bool(r & findings) and not (r & t & findings))
                            for r, t in zip(asserted_refs, asserted_texts)],
        "rougeL": rouge(references, texts)["rougeL"],
        "length_gap": [length_gap(r, t) for r, t in zip(references, texts)],
    })
    table["reward"] = (table["clinical_f1"] - cfg.missed_abnormal_penalty * table["missed_abnormal"]
                       + cfg.overlap_weight * table["rougeL"] - cfg.length_weight * table["length_gap"])
    return table
