"""The promotion gate for one version, one step after another under the registry's decision lock (lock.py): an
intent a dead decider left is settled (apply.py), the decision is made from the version's and the champion's tags
(decision.py, with evaluation/significance.py's test when the policy asks for one), the alias is moved with a
compare-and-set (apply.py), and the decision is put on record (audit.py)."""

from typing import Optional

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from radreport.config import PromotionConfig
from radreport.errors import RadreportError
from radreport.evaluation.significance import paired_p_value
from radreport.registry.apply import set_alias, settle_pending
from radreport.registry.audit import record
from radreport.registry.decision import Decision, decide
from radreport.registry.lock import deciding
from radreport.registry.store import champion_version, run_and_step
from radreport.registry.tags import baselines_of, human_rating_of, metrics_of, not_applicable_of


def gate_version(client: MlflowClient, name: str, version: int, policy: PromotionConfig, by: str,
                 force_reason: Optional[str] = None) -> dict:
    """Run the gate for one version (or force it with a recorded reason) and apply the alias."""
    with deciding(client, name, by):
        settle_pending(client, name)
        tags = dict(client.get_model_version(name, str(version)).tags)
        candidate = metrics_of(tags)
        current = champion_version(client, name)
        champion = metrics_of(current.tags) if current and current.version != version else None
        if force_reason is not None:
            decision, action = forced(force_reason), "force"
        else:
            p_value = significance(client, name, version, current.version, policy.metric) \
                if champion is not None and policy.significance is not None else None
            decision = decide(candidate, champion, policy, human_rating_of(tags), p_value, baselines_of(tags),
                              not_applicable_of(tags))
            action = "gate"
        if not (current and current.version == version):  # re-gating the champion records, never demotes
            set_alias(client, name, decision.alias, version, current.version if current else None, by)
        return record(client, name, version, action, decision, by, candidate, champion,
                      current.version if current else None)


def forced(reason: str) -> Decision:
    if not reason.strip():
        raise RadreportError("a forced promotion needs a reason: an override is only accepted with its reason on "
                             "record")
    return Decision(True, f"forced: {reason}", ["override of the gate"])


def significance(client: MlflowClient, name: str, candidate: int, champion: int, metric: str) -> Optional[float]:
    """The p-value of `candidate` against `champion` on `metric`, from their evaluations; None when either version
    has no evaluation on record to compare."""
    try:
        evaluations = [run_and_step(client, name, v) for v in (candidate, champion)]
    except (MlflowException, KeyError):  # no such version, or no checkpoint step on record
        return None
    return paired_p_value(*evaluations, metric, client._tracking_client.tracking_uri)
