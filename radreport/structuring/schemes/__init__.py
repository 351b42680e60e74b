"""Region schemes as data: one YAML file per scheme here names the modalities it serves, its regions (the last
takes what no keyword places) and each region's keywords. `scheme_for(modality)` is what structuring, formatting
and per-region metrics use; a modality no scheme lists gets every sentence in `others`."""

import hashlib
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

HERE = Path(__file__).parent
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in SENTENCE_END.split(text or "") if s.strip()]


@dataclass(frozen=True)
class Scheme:
    name: str
    modalities: tuple[str, ...]
    regions: tuple[str, ...]                       # the last is the catch-all
    keywords: dict[str, tuple[str, ...]] = field(default_factory=dict, hash=False)

    @property
    def patterns(self) -> dict[str, re.Pattern]:
        return compiled(self)

    def region_of(self, sentence: str) -> str:
        """The region whose keyword starts earliest in the sentence (ties: region order), else the catch-all."""
        best, best_pos = self.regions[-1], len(sentence) + 1
        for region, pattern in self.patterns.items():
            match = pattern.search(sentence)
            if match and match.start() < best_pos:
                best, best_pos = region, match.start()
        return best

    def structure(self, findings: str) -> dict[str, list[str]]:
        """Region -> its sentences, in input order. Every input sentence appears exactly once."""
        regions = {r: [] for r in self.regions}
        for sentence in split_sentences(findings):
            regions[self.region_of(sentence)].append(sentence)
        return regions

    def render(self, regions: dict[str, list[str]]) -> str:
        """The region-structured report text a model learns to write ("Lung: ...", "None." where empty)."""
        return "\n".join(f"{r.capitalize()}: {' '.join(regions[r]) or 'None.'}" for r in self.regions)

    def parse_regions(self, report: str) -> dict[str, list[str]]:
        """A region-structured report back into regions: its headings first, "None." as empty; text before the
        first heading, or a report with none, is placed sentence by sentence by `structure`."""
        heading = re.compile(r"(?:^|(?<=[.!?\n]))\s*(" + "|".join(self.regions) + r")\s*:\s*", re.IGNORECASE)
        regions = {r: [] for r in self.regions}
        parts = heading.split(report or "")
        for region, sentences in self.structure(parts[0]).items():
            regions[region] += sentences
        for name, body in zip(parts[1::2], parts[2::2]):
            regions[name.lower()] += [s for s in split_sentences(body) if s.lower() != "none."]
        return regions


@cache
def compiled(scheme: Scheme) -> dict[str, re.Pattern]:
    return {region: re.compile(r"\b(" + "|".join(map(re.escape, words)) + r")", re.IGNORECASE)
            for region, words in scheme.keywords.items()}


@cache
def load_scheme(name: str) -> Scheme:
    path = HERE / f"{name}.yaml"
    raw = yaml.safe_load(path.read_text())
    unknown = set(raw["keywords"]) - set(raw["regions"][:-1])
    if unknown:
        raise ValueError(f"{path}: keywords for {sorted(unknown)}, which are not regions before the catch-all")
    return Scheme(name, tuple(raw["modalities"]), tuple(raw["regions"]),
                  {region: tuple(words) for region, words in raw["keywords"].items()})


SCHEMES = tuple(sorted(p.stem for p in HERE.glob("*.yaml")))


def schemes_digest() -> str:
    """A hash of every scheme file: a step that structures by them is re-run, not served from cache, after an edit."""
    return hashlib.sha256(b"".join((HERE / f"{name}.yaml").read_bytes() for name in SCHEMES)).hexdigest()[:16]
UNSTRUCTURED = Scheme("none", (), ("others",))


def scheme_for(modality: str) -> Scheme:
    """The scheme that lists `modality`; a modality no scheme lists keeps every sentence in `others`."""
    return next((s for s in map(load_scheme, SCHEMES) if modality in s.modalities), UNSTRUCTURED)
