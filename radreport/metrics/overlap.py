"""BLEU (sacrebleu) and ROUGE (rouge-score), computed with the libraries' own functions.

BLEU-n: sacrebleu corpus BLEU with max n-gram order n, its default 13a tokenisation, 0-100; all four from one pass
over the corpus (orders 1..n of BLEU-4's n-gram statistics are BLEU-n's), scored by sacrebleu's `compute_bleu`.
ROUGE-1/2/L: rouge-score F1 with Porter stemming, mean over examples, 0-1. Each distinct text is tokenised and
stemmed once, each distinct (reference, hypothesis) pair scored once; the scoring functions are rouge-score's.
"""

from functools import lru_cache

import numpy as np
import sacrebleu
from rouge_score import rouge_scorer, tokenizers
from sacrebleu.metrics.bleu import BLEU

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")
# RougeScorer's own tokenizer, built directly: RougeScorer() logs through absl, whose first log call installs a
# second root handler (every log line would print twice)
_tokenizer = tokenizers.DefaultTokenizer(use_stemmer=True)
_BLEU4 = sacrebleu.BLEU()
_SENTENCE_BLEU = sacrebleu.BLEU(effective_order=True)


def corpus_bleu(references: list[str], hypotheses: list[str]) -> dict:
    """Equal to sacrebleu.BLEU(max_ngram_order=n).corpus_score(hypotheses, [references]).score for n = 1..4."""
    stats = np.array(_BLEU4._extract_corpus_statistics(hypotheses, [references]), dtype=int).sum(0).tolist()
    sys_len, ref_len, correct, total = stats[0], stats[1], stats[2:6], stats[6:10]
    return {f"bleu{n}": BLEU.compute_bleu(correct[:n], total[:n], sys_len, ref_len, smooth_method=_BLEU4.smooth_method,
                                          max_ngram_order=n).score for n in range(1, 5)}


def sentence_bleu(references: list[str], hypotheses: list[str]) -> list[float]:
    return [_SENTENCE_BLEU.sentence_score(h, [r]).score for r, h in zip(references, hypotheses)]


@lru_cache(maxsize=200_000)
def _tokens(text: str) -> tuple[str, ...]:
    return tuple(_tokenizer.tokenize(text))


@lru_cache(maxsize=200_000)
def _rouge_pair(reference: str, hypothesis: str) -> tuple[float, float, float]:
    ref, hyp = _tokens(reference), _tokens(hypothesis)
    return (rouge_scorer._score_ngrams(rouge_scorer._create_ngrams(ref, 1), rouge_scorer._create_ngrams(hyp, 1)).fmeasure,
            rouge_scorer._score_ngrams(rouge_scorer._create_ngrams(ref, 2), rouge_scorer._create_ngrams(hyp, 2)).fmeasure,
            rouge_scorer._score_lcs(ref, hyp).fmeasure)


def rouge(references: list[str], hypotheses: list[str]) -> dict[str, list[float]]:
    """Per-example ROUGE F1, identical to RougeScorer(use_stemmer=True).score(reference, hypothesis)."""
    pairs = [_rouge_pair(r, h) for r, h in zip(references, hypotheses)]
    return {t: [p[i] for p in pairs] for i, t in enumerate(ROUGE_TYPES)}
