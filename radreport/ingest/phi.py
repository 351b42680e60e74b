"""A screen for likely protected health information left in report text. A flag, not a de-identifier."""

import re

PATTERNS = {
    "date": re.compile(r"\b(?:\d{1,2}[/-]\d{1,2}[/-](?:\d{4}|\d{2})|(?:19|20)\d{2}-\d{2}-\d{2})\b"),
    "phone": re.compile(r"(?:\(\d{3}\)\s*|\b\d{3}[-.\s])\d{3}[-.\s]\d{4}\b"),
    "mrn": re.compile(r"\b(?:MRN|MR#|medical record(?: number)?)\s*[:#]?\s*\d{3,}|\b\d{7,10}\b", re.IGNORECASE),
    "doctor_name": re.compile(r"\bDr\.?\s+[A-Z][a-z]+"),
}
# Cheap guards: a date, phone number or MRN needs three digits in a row or a digit beside / or -, a name needs "Dr".
# Most reports fail both, and the full patterns never run on them.
_DIGIT = re.compile(r"\d")
_NUMBERISH = re.compile(r"\d\d\d|\d[/-]\d")


def phi_hits(text: str) -> list[str]:
    """Kinds of likely identifiers in text (each kind once)."""
    if "Dr" not in text and not (_DIGIT.search(text) and _NUMBERISH.search(text)):
        return []
    return [kind for kind, pattern in PATTERNS.items() if pattern.search(text)]
