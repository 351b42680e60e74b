"""METEOR: nltk's implementation with real WordNet (offline, from Debian's wordnet-base; see the Makefile).

Tokenisation: lowercase, then runs of word characters (`\\w+`). nltk's stemmer and WordNet lookups are memoised
(the same words recur across reports), which changes nothing in the result.
"""

import re
from functools import lru_cache

from nltk.stem.porter import PorterStemmer
from nltk.translate.meteor_score import meteor_score

from radreport.errors import RadreportError

WORD = re.compile(r"\w+")


def tokenize(text: str) -> list[str]:
    return WORD.findall(text.lower())


class _CachedStemmer:
    def __init__(self):
        self.stem = lru_cache(maxsize=100_000)(PorterStemmer().stem)


class _CachedWordNet:
    def __init__(self):
        from nltk.corpus import wordnet

        try:
            wordnet.ensure_loaded()
        except LookupError:
            raise RadreportError("METEOR needs WordNet: run `make setup` (installs Debian's wordnet-base into "
                                 ".venv/nltk_data)") from None
        self.synsets = lru_cache(maxsize=100_000)(wordnet.synsets)


_stemmer, _wordnet = None, None


def meteor(references: list[str], hypotheses: list[str]) -> list[float]:
    global _stemmer, _wordnet
    if _wordnet is None:
        _stemmer, _wordnet = _CachedStemmer(), _CachedWordNet()
    scores, seen = [], {}
    for r, h in zip(references, hypotheses):
        if (r, h) not in seen:
            seen[(r, h)] = meteor_score([tokenize(r)], tokenize(h), stemmer=_stemmer, wordnet=_wordnet)
        scores.append(seen[(r, h)])
    return scores
