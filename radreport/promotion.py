"""The promotion gate: a pure decision from the candidate's and the champion's metrics."""

from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str

    @property
    def alias(self) -> str:
        return "champion" if self.promote else "challenger"


def decide(metric: str, candidate: float, champion: Optional[float], floor: float, max_regression: float) -> Decision:
    if candidate < floor:
        return Decision(False, f"floor: {metric}={candidate:.4f} < floor {floor:.4f}")
    if champion is None:
        return Decision(True, f"no champion; {metric}={candidate:.4f} >= floor {floor:.4f}")
    if candidate < champion - max_regression:
        return Decision(False, f"margin: {metric}={candidate:.4f} < champion {champion:.4f} - {max_regression:.4f}")
    return Decision(True, f"{metric}={candidate:.4f} >= champion {champion:.4f} - {max_regression:.4f}")
