"""Deterministic per-patient splits: a report's split depends only on its patient (or report) id,
so adding reports never moves old ones and no patient spans two splits."""

import hashlib


def hash_unit(key: str) -> float:
    """Map a key to [0, 1) stably across machines and Python versions."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign_split(key: str, val_fraction: float, test_fraction: float) -> str:
    u = hash_unit(key)
    if u < test_fraction:
        return "test"
    if u < test_fraction + val_fraction:
        return "validation"
    return "train"
