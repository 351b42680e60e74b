"""Stores an Evaluation (every system's scores, per region and per example, the best checkpoint) and draws its
dashboard table: the baselines beside the best checkpoint."""

import json
import os

import pandas as pd
from zenml.enums import ArtifactType, VisualizationType
from zenml.io import fileio
from zenml.materializers.base_materializer import BaseMaterializer

from radreport.evaluation.result import Evaluation

TABLES = ("scores", "regions", "examples")


class EvaluationMaterializer(BaseMaterializer):
    ASSOCIATED_TYPES = (Evaluation,)
    ASSOCIATED_ARTIFACT_TYPE = ArtifactType.DATA_ANALYSIS

    def _path(self, name: str) -> str:
        return os.path.join(self.uri, name)

    def save(self, data: Evaluation) -> None:
        for table in TABLES:
            with fileio.open(self._path(f"{table}.parquet"), "wb") as f:
                getattr(data, table).to_parquet(f, index=table == "scores")
        with fileio.open(self._path("evaluation.json"), "w") as f:
            json.dump({"best_step": data.best_step, "select_metric": data.select_metric, "notes": data.notes,
                       "not_applicable": data.not_applicable}, f)

    def load(self, data_type: type) -> Evaluation:
        tables = {}
        for table in TABLES:
            with fileio.open(self._path(f"{table}.parquet"), "rb") as f:
                tables[table] = pd.read_parquet(f)
        with fileio.open(self._path("evaluation.json"), "r") as f:
            return Evaluation(**tables, **json.load(f))

    def extract_metadata(self, data: Evaluation) -> dict:
        return {"best_step": data.best_step, "select_metric": data.select_metric,
                **{f"best_{k}": float(v) for k, v in data.best.items()}}

    def save_visualizations(self, data: Evaluation) -> dict:
        path = self._path("scores.html")
        with fileio.open(path, "w") as f:
            f.write(f"<h3>Held-out scores: every baseline beside the best checkpoint (step {data.best_step}, by "
                    f"{data.select_metric})</h3>{data.shown().round(4).to_html()}")
        return {path: VisualizationType.HTML}
