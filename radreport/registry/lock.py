"""One decision at a time per registered model, for every client of the registry, on any machine.

MLflow has no lock, but creating a registered model is atomic: of two clients creating one name, one gets
RESOURCE_ALREADY_EXISTS (a unique key in the server's database). The lock is a registered model named
`<model>.decision-lock`, tagged with its holder, deleted when the decision is done. A holder that died leaves it
behind: after `stale_after_s` it is taken over, and the next decision settles what the dead one left half-done
(apply.settle_pending). The compare-and-set on the champion alias stays as the last guard. `deciding` is how a
decision (gate.py, rollback.py) takes it."""

import random
import time
from contextlib import contextmanager

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from radreport.errors import RadreportError
from radreport.registry import audit
from radreport.registry.tags import LOCK_HOLDER, lock_holder_of, lock_holder_tags

SUFFIX = ".decision-lock"


def lock_name(name: str) -> str:
    return name + SUFFIX


def is_lock(model) -> bool:
    return LOCK_HOLDER in (model.tags or {})


def holder(client: MlflowClient, name: str) -> dict | None:
    try:
        return lock_holder_of(client.get_registered_model(lock_name(name)).tags)
    except MlflowException:  # released meanwhile
        return None


@contextmanager
def decision_lock(client: MlflowClient, name: str, by: str, wait_s: float = 300, stale_after_s: float = 900):
    deadline = time.monotonic() + wait_s
    while True:
        try:
            client.create_registered_model(lock_name(name), tags=lock_holder_tags(by),
                                           description=f"radreport: a promotion decision on {name} is in progress")
            break
        except MlflowException as err:
            if err.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        held = holder(client, name)
        if held and time.time() - held.get("since", 0) > stale_after_s:
            release(client, name)  # its holder died; the next decision settles what it left
            continue
        if time.monotonic() > deadline:
            raise RadreportError(f"{name}: another decision holds the registry's decision lock "
                                 f"({held.get('by', '?') if held else '?'}); try again later")
        time.sleep(0.2 + random.random() * 0.3)
    try:
        yield
    finally:
        release(client, name)


def release(client: MlflowClient, name: str) -> None:
    try:
        client.delete_registered_model(lock_name(name))
    except MlflowException:
        pass  # already taken over as stale


@contextmanager
def deciding(client: MlflowClient, name: str, by: str):
    """Holds the registry's decision lock for `name`; a local audit log left from before moves in first."""
    with decision_lock(client, name, by):
        audit.migrate_local_log(client, audit.local_audit_log())
        yield
