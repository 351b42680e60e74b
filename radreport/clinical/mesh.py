"""The labeler against labels it never saw: IU X-Ray's MeSH indexing, per observation, over every report."""

from pathlib import Path

import pandas as pd
import yaml

from radreport.clinical.labeler import OBSERVATIONS, Labeler, positive_set

MESH_MAP: dict[str, str] = yaml.safe_load((Path(__file__).parent / "mesh_map.yaml").read_text())
NOT_INDEXED = "No Indexing"


def mesh_observations(mesh: str) -> set[str]:
    """Observations named by a report's MeSH terms ("Cardiomegaly/mild;Opacity/lung/base" -> cardiomegaly, ...)."""
    found = set()
    for term in mesh.split(";"):
        parts = [part.strip() for part in term.split("/")]
        name = MESH_MAP.get("/".join(parts[:2])) or MESH_MAP.get(parts[0])
        if name:
            found.add(name)
    return found


def report_texts(reports: pd.DataFrame) -> list[str]:
    return (reports["findings"].fillna("") + " " + reports["impression"].fillna("")).str.strip().tolist()


def mesh_agreement(reports: pd.DataFrame, labeler: Labeler | None = None,
                   uncertain_as: str = "positive") -> tuple[pd.DataFrame, int]:
    """(per observation: reports MeSH-indexed with it (n), labelled positive, precision, recall; reports compared).
    Reports the indexers marked "No Indexing" are left out."""
    indexed = reports[reports["MeSH"].fillna(NOT_INDEXED).str.strip() != NOT_INDEXED]
    predicted = [positive_set(labels, uncertain_as) for labels in (labeler or Labeler()).label(report_texts(indexed))]
    truth = [mesh_observations(mesh) for mesh in indexed["MeSH"]]
    rows = []
    for name in sorted(set(MESH_MAP.values()), key=OBSERVATIONS.index):
        tp = sum(name in p and name in t for p, t in zip(predicted, truth))
        n, labelled = sum(name in t for t in truth), sum(name in p for p in predicted)
        rows.append({"observation": name, "n": n, "labelled": labelled,
                     "precision": tp / labelled if labelled else 0.0, "recall": tp / n if n else 0.0})
    return pd.DataFrame(rows).set_index("observation"), len(indexed)
