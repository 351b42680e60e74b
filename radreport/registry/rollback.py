"""Rollback: `champion` moved back to the previous champion, on record, under the registry's decision lock.

The history is first settled and reconciled with the real alias (history.py), so the version rolled back from is the
one really serving, even one set by hand in the MLflow UI. An intent is written before the alias moves, so a rollback
that dies half-way is finished by the next decision (apply.settle_pending), not taken for a promotion."""

from mlflow import MlflowClient

from radreport.errors import RadreportError
from radreport.registry.apply import settle_pending
from radreport.registry.audit import now, record
from radreport.registry.decision import Decision
from radreport.registry.history import reconciled_history
from radreport.registry.lock import deciding
from radreport.registry.model_card import refresh_card_quietly
from radreport.registry.tags import metrics_of, set_history, set_pending, set_rolled_back


def rollback(client: MlflowClient, name: str, by: str, reason: str) -> dict:
    """Move `champion` back to the previous champion and `challenger` to the one rolled back from."""
    with deciding(client, name, by):
        settle_pending(client, name)
        history = reconciled_history(client, name)
        if len(history) < 2:
            raise RadreportError(f"{name}: no previous champion to roll back to (history: {history or 'empty'})")
        current, previous = history[-1], history[-2]
        intent = {"action": "rollback", "version": previous, "alias": "champion", "previous_champion": current,
                  "by": by, "time": now()}
        set_pending(client, name, intent)
        client.set_registered_model_alias(name, "champion", str(previous))
        set_history(client, name, history[:-1])
        client.set_registered_model_alias(name, "challenger", str(current))
        set_rolled_back(client, name, current, f"rolled back to v{previous}: {reason}")
        decision = Decision(True, f"rollback from v{current}: {reason}", [f"v{current} -> v{previous}"])
        entry = record(client, name, previous, "rollback", decision, by,
                       metrics_of(client.get_model_version(name, str(previous)).tags), None, current)
        refresh_card_quietly(client, name, current)  # its card now says it was rolled back
        return entry
