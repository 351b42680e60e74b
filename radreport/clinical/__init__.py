"""Clinical observations in report text: a rule-based labeler with NegEx negation and uncertainty, validated
against IU X-Ray's MeSH indexing (radreport/clinical/mesh.py)."""

from radreport.clinical.labeler import (FINDINGS, NEGATED, NO_FINDING, OBSERVATIONS, POSITIVE, UNCERTAIN, Labeler,
                                        Mention)

__all__ = ["FINDINGS", "NEGATED", "NO_FINDING", "OBSERVATIONS", "POSITIVE", "UNCERTAIN", "Labeler", "Mention"]
