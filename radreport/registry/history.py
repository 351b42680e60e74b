"""The champion history of a registered model: the versions that held `champion`, oldest first, kept as a
registered-model tag beside the real alias. A decision that died half-way, or an alias moved by hand in the MLflow
UI, can leave the history behind the alias; `reconciled_history` brings it in line, and rollback trusts only that."""

from typing import Optional

from mlflow import MlflowClient

from radreport.registry.tags import history_of, set_history


def champion_history(client: MlflowClient, name: str) -> list[int]:
    return history_of(client.get_registered_model(name).tags)


def real_champion(client: MlflowClient, name: str) -> Optional[int]:
    champion = client.get_registered_model(name).aliases.get("champion")
    return int(champion) if champion is not None else None


def reconciled_history(client: MlflowClient, name: str) -> list[int]:
    """The champion history, ending with the real champion alias (appended and saved when a crash or a change
    made outside radreport left the history behind)."""
    history, real = champion_history(client, name), real_champion(client, name)
    if real is not None and (not history or history[-1] != real):
        history.append(real)
        set_history(client, name, history)
    return history
