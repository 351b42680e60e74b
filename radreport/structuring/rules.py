"""Rule-based anatomical structuring: each findings sentence goes to exactly one region.

The offline default. A sentence goes to the region whose keyword appears earliest in it
(ties broken by REGIONS order); sentences matching nothing go to `others`.
"""

import re

REGIONS = ("lung", "heart", "mediastinal", "bone", "others")
KEYWORDS = {
    "lung": ("lung", "pulmonary", "pleura", "pneumothora", "effusion", "airspace", "air space", "consolidat", "opacit",
             "atelecta", "granulom", "nodul", "edema", "emphysem", "hyperexpan", "hyperinfla", "interstiti", "infiltrat",
             "pneumonia", "lobe", "basilar", "bibasilar", "costophrenic", "parenchym", "apical", "apex", "scar",
             "vascular congestion", "vascularity", "diaphragm", "hemidiaphragm", "copd", "fibrosis"),
    "heart": ("heart", "cardiac", "cardiomegaly", "cardio", "pericardi", "ventric", "atri"),
    "mediastinal": ("mediastin", "hilar", "hila", "hilum", "aorta", "aortic", "trachea", "hiatal", "hernia",
                    "paratracheal", "thymus", "esophag"),
    "bone": ("osseous", "bone", "bony", "spine", "spinal", "spondyl", "vertebr", "rib", "fractur", "clavic", "scolio",
             "kyphos", "degenerative", "osteo", "skelet", "shoulder", "humer", "arthrit", "thoracic spine"),
}
PATTERNS = {region: re.compile(r"\b(" + "|".join(map(re.escape, words)) + r")", re.IGNORECASE)
            for region, words in KEYWORDS.items()}
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in SENTENCE_END.split(text or "") if s.strip()]


def region_of(sentence: str) -> str:
    best, best_pos = "others", len(sentence) + 1
    for region, pattern in PATTERNS.items():
        match = pattern.search(sentence)
        if match and match.start() < best_pos:
            best, best_pos = region, match.start()
    return best


def structure(findings: str) -> dict[str, list[str]]:
    """Region -> its sentences, in input order. Every input sentence appears exactly once."""
    regions = {r: [] for r in REGIONS}
    for sentence in split_sentences(findings):
        regions[region_of(sentence)].append(sentence)
    return regions


def render(regions: dict[str, list[str]]) -> str:
    """The region-structured report text the model learns to write."""
    return "\n".join(f"{r.capitalize()}: {' '.join(regions[r]) or 'None.'}" for r in REGIONS)


HEADING = re.compile(r"(?:^|(?<=[.!?\n]))\s*(" + "|".join(REGIONS) + r")\s*:\s*", re.IGNORECASE)


def parse_regions(report: str) -> dict[str, list[str]]:
    """A generated region-structured report back into regions: its headings first ("Lung: ..."), "None." as empty;
    text before the first heading, or a report with none, is placed sentence by sentence by `structure`."""
    regions = {r: [] for r in REGIONS}
    parts = HEADING.split(report or "")
    for region, sentences in structure(parts[0]).items():
        regions[region] += sentences
    for heading, body in zip(parts[1::2], parts[2::2]):
        regions[heading.lower()] += [s for s in split_sentences(body) if s.lower() != "none."]
    return regions
