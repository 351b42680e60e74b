"""Pin the step image's requirements from an environment where the project runs (its installed versions): the
project's own dependencies and everything they pull, as `name==version`, one a line; not the project itself, not its
test or gpu extras, not ZenML's server extra (a step is a ZenML client, never a server).

    .venv/bin/python ops/docker/pin.py > ops/docker/requirements.txt"""

import re
import sys
from importlib import metadata

from packaging.requirements import Requirement

DROPPED_EXTRAS = {"zenml": {"server"}}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def applies(requirement: Requirement, extras: set[str]) -> bool:
    """Whether a dependency line holds here for a distribution installed with these extras."""
    return requirement.marker is None or any(requirement.marker.evaluate({"extra": e}) for e in extras | {""})


def closure(project: str) -> dict[str, str]:
    pinned, seen = {}, set()
    todo = [Requirement(line) for line in metadata.requires(project) or []]
    todo = [r for r in todo if applies(r, set())]
    while todo:
        requirement = todo.pop()
        name = canonical(requirement.name)
        extras = set(requirement.extras) - DROPPED_EXTRAS.get(name, set())
        if (name, frozenset(extras)) in seen:
            continue
        seen.add((name, frozenset(extras)))
        dist = metadata.distribution(requirement.name)
        pinned[name] = dist.version.split("+")[0]  # torch 2.13.0+cpu: which build is the index's choice
        todo += [r for r in map(Requirement, dist.requires or []) if applies(r, extras)]
    return pinned


if __name__ == "__main__":
    pins = closure(sys.argv[1] if len(sys.argv) > 1 else "radreport")
    print("\n".join(f"{name}=={version}" for name, version in sorted(pins.items())))
