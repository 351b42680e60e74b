"""Promotion decisions on a real MLflow registry (SQLite) under crashes and concurrent deciders."""

import json

import pytest
from mlflow import MlflowClient

from radreport.errors import RadreportError
from radreport.registry import gate
from radreport.registry.apply import ChampionChanged
from radreport.registry.audit import decisions_of, entries
from radreport.registry.history import champion_history
from radreport.registry.rollback import rollback
from radreport.registry.tags import HISTORY, PENDING
from radreport.config import PromotionConfig

NAME = "radreport-gate-test"
POLICY = PromotionConfig(floors={"rougeL": 0.1}, margins={"rougeL": 0.0}, beat_baselines=[])


@pytest.fixture
def client(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_registered_model(NAME)
    for rouge in (0.3, 0.4, 0.5):
        version = client.create_model_version(NAME, source=str(tmp_path / "adapter"))
        client.set_model_version_tag(NAME, version.version, "metric.rougeL", str(rouge))
    return client


def audit(client) -> list[dict]:
    return entries(client, NAME)


def aliases(client) -> dict:
    return {k: int(v) for k, v in client.get_registered_model(NAME).aliases.items()}


class Died(BaseException):
    """The process ends here (not an Exception: nothing may catch it on the way out)."""


def test_a_death_after_the_alias_moved_is_settled_and_rollback_trusts_the_registry(client, monkeypatch):
    gate.gate_version(client, NAME, 1, POLICY, "test")
    real_record = gate.record
    monkeypatch.setattr(gate, "record", lambda *a, **k: (_ for _ in ()).throw(Died()))
    with pytest.raises(Died):
        gate.gate_version(client, NAME, 2, POLICY, "test")
    assert aliases(client)["champion"] == 2 and PENDING in client.get_registered_model(NAME).tags
    monkeypatch.setattr(gate, "record", real_record)
    entry = rollback(client, NAME, "test", "v2 misbehaves")
    settled = [e for e in audit(client) if e["action"] == "settle"]
    assert len(settled) == 1 and settled[0]["result"] == "champion" and "died after moving champion" in settled[0]["reason"]
    assert entry["version"] == 1 and aliases(client) == {"champion": 1, "challenger": 2}
    assert champion_history(client, NAME) == [1]
    assert PENDING not in client.get_registered_model(NAME).tags


def test_a_death_before_the_alias_moved_leaves_the_registry_as_it_was(client, monkeypatch):
    gate.gate_version(client, NAME, 1, POLICY, "test")
    monkeypatch.setattr(client, "set_registered_model_alias", lambda *a: (_ for _ in ()).throw(Died()))
    with pytest.raises(Died):
        gate.gate_version(client, NAME, 2, POLICY, "test")
    monkeypatch.undo()
    entry = gate.gate_version(client, NAME, 3, POLICY, "test")  # the next decision settles the intent first
    settle = next(e for e in audit(client) if e["action"] == "settle")
    assert settle["result"] == "not applied" and settle["version"] == 2
    assert entry["result"] == "champion" and entry["champion_version"] == 1 and aliases(client)["champion"] == 3
    assert champion_history(client, NAME) == [1, 3]


def test_a_champion_changed_by_another_decider_mid_decision_stops_this_one(client, monkeypatch):
    gate.gate_version(client, NAME, 1, POLICY, "test")
    real_decide = gate.decide

    def decide_while_another_machine_promotes(*args, **kwargs):
        client.set_registered_model_alias(NAME, "champion", "3")  # a gate elsewhere on the shared registry
        return real_decide(*args, **kwargs)

    monkeypatch.setattr(gate, "decide", decide_while_another_machine_promotes)
    with pytest.raises(ChampionChanged, match="changed from v1 to v3 while v2 was being gated"):
        gate.gate_version(client, NAME, 2, POLICY, "test")
    assert aliases(client)["champion"] == 3 and "gate.decision" not in client.get_model_version(NAME, "2").tags


def test_rollback_reconciles_a_history_left_behind_by_a_change_outside_radreport(client):
    gate.gate_version(client, NAME, 1, POLICY, "test")
    gate.gate_version(client, NAME, 2, POLICY, "test")
    client.set_registered_model_alias(NAME, "champion", "3")  # set by hand in the MLflow UI
    entry = rollback(client, NAME, "test", "back")
    assert entry["champion_version"] == 3 and aliases(client)["champion"] == 2
    assert champion_history(client, NAME) == [1, 2]


def test_a_rollback_that_died_midway_is_finished_not_taken_for_a_promotion(client, monkeypatch):
    gate.gate_version(client, NAME, 1, POLICY, "test")
    gate.gate_version(client, NAME, 2, POLICY, "test")
    real_set_tag = client.set_registered_model_tag

    def die_at_the_history(name, key, value):
        if key == HISTORY:
            raise Died()
        real_set_tag(name, key, value)

    monkeypatch.setattr(client, "set_registered_model_tag", die_at_the_history)
    with pytest.raises(Died):
        rollback(client, NAME, "test", "v2 misbehaves")
    monkeypatch.undo()
    assert aliases(client)["champion"] == 1 and champion_history(client, NAME) == [1, 2]
    gate.gate_version(client, NAME, 3, POLICY, "test")
    assert champion_history(client, NAME) == [1, 3] and aliases(client) == {"champion": 3, "challenger": 2}


def test_a_server_stops_answering_to_an_alias_that_moved(client):
    from radreport.serving.models import served_ids

    gate.gate_version(client, NAME, 1, POLICY, "test")
    ids = served_ids(client, NAME, 1, ttl_s=0)
    assert ids() == [f"{NAME}@1", f"{NAME}@champion"]
    gate.gate_version(client, NAME, 2, POLICY, "test")
    assert ids() == [f"{NAME}@1"]


def test_an_mlflow_model_and_a_bundle_registered_before_both_download(tmp_path):
    from radreport.registry.store import adapter_bundle

    old, new, neither = tmp_path / "old", tmp_path / "new", tmp_path / "neither"
    (old / "tokenizer").mkdir(parents=True)
    (old / "radreport.json").write_text("{}")
    (new / "artifacts" / "adapter").mkdir(parents=True)
    (new / "artifacts" / "adapter" / "radreport.json").write_text("{}")
    (new / "MLmodel").write_text("flavors: {}")
    neither.mkdir()
    assert adapter_bundle(old) == old and adapter_bundle(new) == new / "artifacts" / "adapter"
    with pytest.raises(RadreportError, match="re-register the version"):
        adapter_bundle(neither)


def test_the_audit_trail_lives_in_the_registry_and_a_local_log_moves_in_once(client, tmp_path, monkeypatch):
    old = tmp_path / "audit" / "promotions.jsonl"
    old.parent.mkdir()
    old.write_text(json.dumps({"time": "2026-01-01T00:00:00+00:00", "model": NAME, "version": 1, "action": "gate",
                               "result": "challenger", "reason": "from before", "by": "someone"}) + "\n")
    monkeypatch.setattr("radreport.registry.audit.local_audit_log", lambda: old)
    gate.gate_version(client, NAME, 1, POLICY, "test")
    gate.gate_version(client, NAME, 2, POLICY, "test")
    trail = audit(client)
    assert trail[0]["reason"] == "from before" and trail[0]["migrated_from"] == str(old)
    assert [(e["action"], e["version"]) for e in trail[1:] if e["action"] != "intent"] == [("gate", 1), ("gate", 2)]
    assert not old.exists() and old.with_name("promotions.jsonl.migrated").exists()
    assert [e["reason"] for e in decisions_of(client, NAME, 1)] == ["from before", trail[2]["reason"]]


def test_a_decision_waits_for_the_registry_lock_and_takes_over_a_stale_one(client):
    from radreport.registry.lock import decision_lock, lock_name
    from radreport.registry.store import registered_models

    with decision_lock(client, NAME, "alice@a"):
        assert [m.name for m in registered_models(client)] == [NAME]  # the lock is no model to list
        with pytest.raises(RadreportError, match=r"another decision holds the registry's decision lock \(alice@a\)"):
            with decision_lock(client, NAME, "bob@b", wait_s=0.5):
                pass
        with decision_lock(client, NAME, "carol@c", stale_after_s=0):  # alice died: taken over
            pass
    with pytest.raises(Exception):
        client.get_registered_model(lock_name(NAME))  # released
