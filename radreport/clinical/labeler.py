"""Rule-based observation labeler: each observation in a report is positive, uncertain, negated or absent.

The vocabulary (observations.yaml) and the radiology cues (cues.yaml) are ours. Tokens and sentences come from a blank
spaCy English pipeline (no model to download); negation and uncertainty scopes are NegEx as negspacy implements it:
one pass with negation cues, one with uncertainty cues.
"""

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

HERE = Path(__file__).parent
POSITIVE, UNCERTAIN, NEGATED = "positive", "uncertain", "negated"
STRENGTH = {NEGATED: 1, UNCERTAIN: 2, POSITIVE: 3}  # a report's status for an observation: its strongest mention
NO_FINDING, SUPPORT_DEVICES, IGNORE = "no_finding", "support_devices", "_ignore"
INSIDE_NEGATION = {"no", "not", "without"}  # NegEx looks around a mention; these can sit inside a long one
SPAN_KEY = "mentions"
GAP_STOPS = ["and", "or", "but", "with", "without"]  # a head and its modifier are never joined across these


@dataclass(frozen=True)
class Observation:
    name: str
    region: str
    chexpert: bool
    phrases: tuple[str, ...] = ()
    pairs: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = ()


@dataclass(frozen=True)
class Mention:
    observation: str
    text: str
    status: str
    sentence: str


def load_vocabulary(path: Path = HERE / "observations.yaml") -> dict[str, Observation]:
    raw = yaml.safe_load(path.read_text())
    return {name: Observation(name, spec["region"], spec["chexpert"], tuple(spec.get("phrases", ())),
                              tuple((tuple(heads), tuple(mods)) for heads, mods in spec.get("pairs", ())))
            for name, spec in raw.items()}


VOCABULARY = load_vocabulary()
MODALITIES = ("chest_xray",)  # the reports the vocabulary describes; elsewhere the clinical figures do not apply
OBSERVATIONS = tuple(name for name in VOCABULARY if name != IGNORE)
FINDINGS = tuple(name for name in OBSERVATIONS if name not in (NO_FINDING, SUPPORT_DEVICES))  # what makes a study abnormal


def negation_termset(cues: dict) -> dict[str, list[str]]:
    """negspacy's clinical termset with our radiology additions and removals."""
    from negspacy.termsets import termset

    terms = termset("en_clinical")
    terms.remove_patterns(cues["remove"])
    terms.add_patterns(cues["add"])
    return terms.get_patterns()


class Labeler:
    def __init__(self, vocabulary: dict[str, Observation] = VOCABULARY, cues: Path = HERE / "cues.yaml"):
        import spacy
        from negspacy.negation import Negex
        from spacy.matcher import Matcher

        self.nlp = spacy.blank("en")
        self.nlp.add_pipe("sentencizer")
        cue_sets = yaml.safe_load(cues.read_text())
        self.negation = Negex(self.nlp, "negation", negation_termset(cue_sets["negation"]), extension_name="negex",
                              span_keys=[SPAN_KEY])
        self.uncertainty = Negex(self.nlp, "uncertainty", cue_sets["uncertainty"], extension_name="uncertain",
                                 span_keys=[SPAN_KEY])
        self.inside_uncertainty = {c for c in cue_sets["uncertainty"]["preceding_negations"] if " " not in c}
        self.matcher = Matcher(self.nlp.vocab)
        for observation in vocabulary.values():
            self.matcher.add(observation.name, self.patterns(observation))
        self._labels: dict[str, dict[str, str]] = {}  # radiology text repeats: label each distinct text once

    def patterns(self, observation: Observation) -> list[list[dict]]:
        def words(phrase: str) -> list[dict]:
            return [{"LOWER": token.lower_} for token in self.nlp.tokenizer(phrase)]

        def gap(most: int) -> dict:
            return {"IS_PUNCT": False, "LOWER": {"NOT_IN": GAP_STOPS}, "OP": f"{{0,{most}}}"}

        patterns = [words(phrase) for phrase in observation.phrases]
        for heads, modifiers in observation.pairs:
            for head in heads:
                for modifier in modifiers:
                    patterns.append(words(head) + [gap(4)] + words(modifier))
                    patterns.append(words(modifier) + [gap(2)] + words(head))
        return patterns

    def _find(self, doc) -> list:
        """The doc's mentions: none spans two sentences or sits inside a longer match of another observation (so
        "calcified nodule" is a granuloma, not a nodule); overlapping ones both stay."""
        from spacy.tokens import Span
        from spacy.util import filter_spans

        matches = [Span(doc, start, end, label=match_id) for match_id, start, end in self.matcher(doc)]
        longest = [span for label in {s.label for s in matches}
                   for span in filter_spans([s for s in matches if s.label == label and s.end <= s.sent.end])]
        mentions = [span for span in longest
                    if not any(o.start <= span.start and span.end <= o.end and len(o) > len(span) for o in longest)]
        doc.spans[SPAN_KEY] = mentions
        self.negation(doc)
        self.uncertainty(doc)
        return [span for span in mentions if span.label_ != IGNORE]

    def _status(self, span) -> str:
        words = {token.lower_ for token in span}
        if span._.negex or words & INSIDE_NEGATION:
            return NEGATED
        if span._.uncertain or words & self.inside_uncertainty:
            return UNCERTAIN
        return POSITIVE

    def mentions(self, text: str) -> list[Mention]:
        return [Mention(span.label_, span.text, self._status(span), span.sent.text)
                for span in self._find(self.nlp(text))]

    def label(self, texts: list[str]) -> list[dict[str, str]]:
        """Per text, {observation: positive | uncertain | negated} for every observation mentioned, plus
        no_finding: positive when no finding (support devices aside) is positive or uncertain."""
        new = list(dict.fromkeys(t for t in texts if t not in self._labels))
        for text, doc in zip(new, self.nlp.pipe(new, batch_size=256)):
            statuses: dict[str, str] = {}
            for span in self._find(doc):
                status = self._status(span)
                if STRENGTH[status] > STRENGTH.get(statuses.get(span.label_), 0):
                    statuses[span.label_] = status
            abnormal = any(statuses.get(name) in (POSITIVE, UNCERTAIN) for name in FINDINGS)
            statuses[NO_FINDING] = NEGATED if abnormal else POSITIVE
            self._labels[text] = statuses
        return [self._labels[t] for t in texts]


@cache
def shared_labeler() -> "Labeler":
    """One labeler per process (building its patterns takes a moment; it remembers every text it labelled)."""
    return Labeler()


def positive_set(labels: dict[str, str], uncertain_as: str = "positive") -> set[str]:
    """The observations a report asserts; uncertain mentions count as positive or not, as configured."""
    asserted = {POSITIVE, UNCERTAIN} if uncertain_as == "positive" else {POSITIVE}
    return {name for name, status in labels.items() if status in asserted}
