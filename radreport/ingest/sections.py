"""Section parsing for free-text reports (MIMIC-CXR style): FINDINGS:, IMPRESSION:, ... anywhere in the text.

Headings vary in case, spacing and order, and some reports lack a section; text before the first heading is
kept as `preamble`, never dropped.
"""

import re

HEADINGS = {
    "findings": ("FINDINGS", "FINDING", "REPORT"),
    "impression": ("IMPRESSION", "IMPRESSIONS", "CONCLUSION", "CONCLUSIONS", "SUMMARY", "OPINION"),
    "indication": ("INDICATION", "INDICATIONS", "CLINICAL INDICATION", "HISTORY", "CLINICAL HISTORY",
                   "REASON FOR EXAM", "REASON FOR EXAMINATION", "CLINICAL INFORMATION"),
    "comparison": ("COMPARISON", "COMPARISONS", "PRIOR", "PRIOR STUDIES"),
    "technique": ("TECHNIQUE", "EXAMINATION", "EXAM", "PROCEDURE"),
}
_NAME_OF = {h: name for name, heads in HEADINGS.items() for h in heads}
_HEADING = re.compile(
    r"(?:^|(?<=\n)|(?<=\.\s)|(?<=\.))[ \t]*(" + "|".join(sorted((re.escape(h).replace(r"\ ", r"\s+") for h in _NAME_OF),
                                                             key=len, reverse=True)) + r")[ \t]*:",
    re.IGNORECASE)


def parse_sections(text: str) -> dict[str, str]:
    """Section name -> its text (whitespace collapsed). Repeated sections are joined in order."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    sections: dict[str, list[str]] = {}
    matches = list(_HEADING.finditer(text))
    preamble = text[:matches[0].start()] if matches else text
    if preamble.strip():
        sections["preamble"] = [preamble]
    for match, following in zip(matches, matches[1:] + [None]):
        name = _NAME_OF[" ".join(match.group(1).upper().split())]
        body = text[match.end():following.start() if following else len(text)]
        sections.setdefault(name, []).append(body)
    return {name: " ".join(" ".join(parts).split()) for name, parts in sections.items()}
