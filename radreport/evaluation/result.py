"""What an evaluation hands on, from the evaluation stage to the gate: every system's corpus scores, the best
checkpoint, the scores per region and per example. The one object both modalities' evaluations return."""

from dataclasses import dataclass, field

import pandas as pd

from radreport.evaluation.systems import is_checkpoint, step_of_system, system_of_step


@dataclass
class Evaluation:
    scores: pd.DataFrame       # one row per system (baselines, base, step-N), one column per metric
    regions: pd.DataFrame      # system, region, n, metric columns ("absent" regions are left out)
    examples: pd.DataFrame     # per example: input, reference, each system's text and '<system>.<metric>' scores
    best_step: int
    select_metric: str
    notes: list[str] = field(default_factory=list)  # what was skipped and why, metric conventions
    not_applicable: list[str] = field(default_factory=list)  # metrics that do not apply to these reports

    @property
    def checkpoints(self) -> list[int]:
        return [step_of_system(s) for s in self.scores.index if is_checkpoint(s)]

    @property
    def best(self) -> dict[str, float]:
        """The best checkpoint's corpus scores."""
        return self.scores.loc[system_of_step(self.best_step)].to_dict()

    @property
    def baselines(self) -> dict[str, dict[str, float]]:
        """{system: corpus scores} for every system that is not a checkpoint (the baselines and `base`)."""
        others = [s for s in self.scores.index if not is_checkpoint(s)]
        return self.scores.loc[others].to_dict(orient="index")

    @property
    def by_system(self) -> dict[str, dict[str, float]]:
        """Corpus scores keyed by system: `model` (the best checkpoint), each baseline and `base`."""
        return {"model": self.best, **self.baselines}

    def shown(self) -> pd.DataFrame:
        """The table a person reads: every baseline and the best checkpoint (not the other checkpoints)."""
        systems = [s for s in self.scores.index if not is_checkpoint(s)] + [system_of_step(self.best_step)]
        return self.scores.loc[systems]


def best_checkpoint(scores: pd.DataFrame, metric: str) -> int:
    """The checkpoint whose `metric` is highest (the first on a tie)."""
    checkpoints = [s for s in scores.index if is_checkpoint(s)]
    return step_of_system(scores.loc[checkpoints, metric].idxmax())
