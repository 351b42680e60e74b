"""The promotion decision, pure (no I/O): promote or not, from the candidate's and the champion's numbers and a
policy; gate.py gathers the numbers and applies the result.

Rules, all of which must pass: absolute floors per metric; scores above every baseline of the candidate's own
evaluation on named metrics (so no trivial system can be promoted, champion or not); per-metric margins against the
current champion (skipped when there is none); when the policy sets `significance`, a difference from the champion
on the policy's metric that is not chance (its p-value is given); and, when the version has been rated by
radiologists, a minimum mean rating. A rule on a metric the candidate's evaluation declared not applicable to its
reports is named as skipped.
"""

from dataclasses import dataclass, field
from typing import Optional

from radreport.config import PromotionConfig


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str
    checks: list[str] = field(default_factory=list)   # every rule evaluated, passed or not

    @property
    def alias(self) -> str:
        return "champion" if self.promote else "challenger"


def decide(candidate: dict, champion: Optional[dict], policy: PromotionConfig,
           human_rating: Optional[float] = None, p_value: Optional[float] = None,
           baselines: Optional[dict[str, dict]] = None, not_applicable: frozenset[str] = frozenset()) -> Decision:
    """`p_value`: of the candidate's difference from the champion on `policy.metric` (same examples), when the
    policy asks for significance; None there means the two could not be compared. `baselines`: each baseline's
    scores on the candidate's evaluation examples ({system: {metric: value}}); none on record fails the rule."""
    failed, checks = [], []

    def check(ok: bool, text: str) -> None:
        """`text` is written as the passing comparison; a failure states the opposite relation."""
        if not ok:
            text = text.replace(" >= ", " < ").replace(" > ", " <= ").replace("beats ", "does not beat ")
            failed.append(text)
        checks.append(("pass: " if ok else "FAIL: ") + text)

    def applies(rule: str, metric: str) -> bool:
        if metric in not_applicable:  # e.g. clinical F1 on CT reports: the labeler does not cover them
            checks.append(f"skipped: {rule} {metric}, not applicable to the candidate's reports")
        return metric not in not_applicable

    for metric, floor in policy.floors.items():
        if not applies("floor", metric):
            continue
        if metric not in candidate:
            check(False, f"floor {metric}: the candidate has no {metric} score")
            continue
        check(candidate[metric] >= floor, f"floor {metric}={candidate[metric]:.4f} >= {floor:.4f}")
    for metric in policy.beat_baselines:
        if not applies("baselines", metric):
            continue
        if not baselines:
            check(False, f"baselines {metric}: no baseline scores on record for the candidate")
            continue
        for system, scores in baselines.items():
            if metric not in candidate or metric not in scores:
                check(False, f"baseline {system} {metric}: no {metric} score to compare")
            else:
                check(candidate[metric] > scores[metric],
                      f"beats {system} on {metric}: {candidate[metric]:.4f} > {scores[metric]:.4f}")
    if champion is not None:
        for metric, margin in policy.margins.items():
            if not applies("margin", metric):
                continue
            if metric not in candidate:
                check(False, f"margin {metric}: the candidate has no {metric} score")
            elif metric not in champion:  # a champion registered before this metric existed
                checks.append(f"skipped: margin {metric}, the champion has no {metric} score")
            else:
                check(candidate[metric] >= champion[metric] - margin,
                      f"margin {metric}={candidate[metric]:.4f} >= champion {champion[metric]:.4f} - {margin:.4f}")
    if champion is not None and policy.significance is not None:
        check(p_value is not None and p_value < policy.significance,
              f"significance {policy.metric}: p={p_value if p_value is not None else 'not comparable'} < {policy.significance}")
    if policy.min_human_rating is not None and human_rating is not None:
        check(human_rating >= policy.min_human_rating,
              f"human rating {human_rating:.2f} >= {policy.min_human_rating:.2f}")
    if failed:
        return Decision(False, "; ".join(failed), checks)
    return Decision(True, "no champion; every rule passes" if champion is None else "all rules pass against the champion",
                    checks)
