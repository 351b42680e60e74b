"""A gate decision applied to the registry's aliases, so that it survives a crash half-way and a second decider.

Before the alias moves, an intent is written (a registered-model tag and an audit entry); after it moves, the alias
is read back. The next decision or rollback finds an intent left by a process that died, settles it from what the
registry really shows (`settle_pending`), and brings the history in line with the real alias. A compare-and-set (the
champion is read again just before the alias moves, and the decision is dropped if it changed) guards against a
decider that took over a lock it thought stale.
"""

from typing import Optional

from mlflow import MlflowClient

from radreport.errors import RadreportError
from radreport.registry.audit import actor, now
from radreport.registry.history import champion_history, real_champion, reconciled_history
from radreport.registry.tags import (append_audit_entry, clear_pending, pending_of, set_decision_alias, set_history,
                                     set_pending)


class ChampionChanged(RadreportError):
    """The champion moved while a decision was being made (another process on a shared registry)."""


def settle_pending(client: MlflowClient, name: str) -> Optional[dict]:
    """Settle a decision whose process died between its intent and its record: the audit log gets what really
    happened (the alias moved or not), and the intent is cleared. None when nothing was pending."""
    model = client.get_registered_model(name)
    intent = pending_of(model.tags)
    if intent is None:
        return None
    applied = int(model.aliases.get(intent["alias"], -1)) == intent["version"]
    entry = {"time": now(), "model": name, "version": intent["version"], "action": "settle",
             "result": intent["alias"] if applied else "not applied",
             "reason": (f"a decision by {intent['by']} at {intent['time']} died after moving {intent['alias']} to "
                        f"v{intent['version']}" if applied else
                        f"a decision by {intent['by']} at {intent['time']} died before moving {intent['alias']}; "
                        "the registry is as it was"), "intent": intent, "by": actor()}
    append_audit_entry(client, name, entry)
    if applied:
        set_decision_alias(client, name, intent["version"], intent["alias"])
    history = champion_history(client, name)
    if applied and intent.get("action") == "rollback" and len(history) >= 2 and history[-2] == intent["version"]:
        # the rollback moved the alias back but died before shortening the history: finish that, not append
        set_history(client, name, history[:-1])
        client.set_registered_model_alias(name, "challenger", str(intent["previous_champion"]))
    reconciled_history(client, name)
    clear_pending(client, name)
    return entry


def set_alias(client: MlflowClient, name: str, alias: str, version: int, expected_champion: Optional[int],
              by: str) -> None:
    """Move `alias` to `version` if the champion is still `expected_champion` (compare-and-set), with an intent on
    record first and the alias read back after."""
    champion = real_champion(client, name)
    if champion != expected_champion:
        raise ChampionChanged(f"{name}: the champion changed from v{expected_champion} to v{champion} while "
                              f"v{version} was being gated (another decision on this registry); nothing was "
                              "changed: run the gate again")
    history = reconciled_history(client, name)
    intent = {"action": "gate", "version": version, "alias": alias, "previous_champion": champion, "by": by,
              "time": now()}
    set_pending(client, name, intent)
    append_audit_entry(client, name, {"time": intent["time"], "model": name, "version": version, "action": "intent",
                                      "result": alias,
                                      "reason": f"about to move {alias} to v{version} (champion v{champion})",
                                      "intent": intent, "by": by})
    model = client.get_registered_model(name)
    if alias == "champion" and int(model.aliases.get("challenger", -1)) == version:
        client.delete_registered_model_alias(name, "challenger")
    client.set_registered_model_alias(name, alias, str(version))
    if int(client.get_registered_model(name).aliases.get(alias, -1)) != version:
        raise ChampionChanged(f"{name}: {alias} did not read back as v{version} after it was set (another "
                              "decision on this registry); run the gate again")
    if alias == "champion":
        set_history(client, name, history + [version])
