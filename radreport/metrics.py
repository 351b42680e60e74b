"""Text-overlap metrics, computed with the reference libraries directly (no hub downloads).

BLEU: sacrebleu corpus BLEU-4, its default 13a tokenisation, on the 0-100 scale.
ROUGE: rouge-score F1 with Porter stemming, mean over examples, 0-1.
"""

import sacrebleu
from rouge_score import rouge_scorer

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")
_scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)


def rouge_per_example(references: list[str], hypotheses: list[str]) -> list[dict]:
    return [{t: s.fmeasure for t, s in _scorer.score(r, h).items()} for r, h in zip(references, hypotheses)]


def corpus_metrics(references: list[str], hypotheses: list[str]) -> dict:
    if len(references) != len(hypotheses) or not references:
        raise ValueError(f"need equal, non-zero numbers of references and hypotheses ({len(references)} vs {len(hypotheses)})")
    per_example = rouge_per_example(references, hypotheses)
    scores = {"bleu": sacrebleu.corpus_bleu(hypotheses, [references]).score}
    for t in ROUGE_TYPES:
        scores[t] = sum(e[t] for e in per_example) / len(per_example)
    return scores
