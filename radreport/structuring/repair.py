"""Make an LLM's region assignment lossless: each input sentence ends in exactly one region.

Output text is matched back to input sentences (ignoring case, spacing and trailing punctuation); what the model
invented is dropped, what it repeated is kept once, what it dropped is placed by the rule-based structurer.
The regions always hold the input's own sentences, never the model's wording.
"""

from collections import Counter
from dataclasses import dataclass

from radreport.structuring.rules import REGIONS, region_of, split_sentences


@dataclass
class Repairs:
    missing: int = 0       # input sentences the model left out (placed by rules)
    invented: int = 0      # output text matching no input sentence (dropped)
    duplicated: int = 0    # input sentences the model placed more than once (kept once)

    @property
    def total(self) -> int:
        return self.missing + self.invented + self.duplicated


@dataclass
class Structured:
    regions: dict[str, list[str]]
    repairs: Repairs
    source: str                     # rules, llm, cache (an earlier llm answer), or empty


def match_key(sentence: str) -> str:
    return " ".join(sentence.lower().split()).rstrip(" .;:,")


def repair(findings: str, proposed: dict[str, list[str]]) -> tuple[dict[str, list[str]], Repairs]:
    sentences = split_sentences(findings)
    unplaced = Counter(match_key(s) for s in sentences)
    placed_region: dict[int, str] = {}
    by_key: dict[str, list[int]] = {}
    for i, s in enumerate(sentences):
        by_key.setdefault(match_key(s), []).append(i)
    repairs = Repairs()
    for region in REGIONS:
        for text in proposed.get(region, []):
            for piece in split_sentences(text):  # a merged answer "A. B." still matches A and B
                key = match_key(piece)
                if key not in by_key:
                    repairs.invented += 1
                elif unplaced[key] == 0:
                    repairs.duplicated += 1
                else:
                    index = by_key[key][len(by_key[key]) - unplaced[key]]
                    placed_region[index] = region
                    unplaced[key] -= 1
    regions = {r: [] for r in REGIONS}
    for i, sentence in enumerate(sentences):
        if i not in placed_region:
            repairs.missing += 1
        regions[placed_region.get(i) or region_of(sentence)].append(sentence)
    return regions, repairs
