"""Stores a CheckpointSet (LoRA adapters of every checkpoint, tokenizer, manifest) in the artifact store."""

import os
import shutil
import weakref

from zenml.enums import ArtifactType, VisualizationType
from zenml.io import fileio
from zenml.materializers.base_materializer import BaseMaterializer
from zenml.utils import io_utils

from radreport.training.checkpoints import CheckpointSet


class CheckpointSetMaterializer(BaseMaterializer):
    ASSOCIATED_TYPES = (CheckpointSet,)
    ASSOCIATED_ARTIFACT_TYPE = ArtifactType.MODEL

    def save(self, data: CheckpointSet) -> None:
        io_utils.copy_dir(data.path, self.uri, overwrite=True)

    def load(self, data_type: type) -> CheckpointSet:
        with self.get_temporary_directory(delete_at_exit=False, delete_after_step_execution=False) as local:
            io_utils.copy_dir(self.uri, local, overwrite=True)
        checkpoints = CheckpointSet(local)
        weakref.finalize(checkpoints, shutil.rmtree, local, True)  # the copy lives as long as the object, in a step or not
        return checkpoints

    def extract_metadata(self, data: CheckpointSet) -> dict:
        manifest = data.manifest
        return {"base_model": manifest["base_model"], "task": manifest["task"], "steps": data.steps,
                **{k: v for k, v in manifest["summary"].items() if v is not None}}

    def save_visualizations(self, data: CheckpointSet) -> dict:
        losses = [(e["step"], e["loss"]) for e in data.log_history if "loss" in e]
        rows = "".join(f"<tr><td>{s}</td><td>{l:.4f}</td></tr>" for s, l in losses)
        html = (f"<h3>LoRA checkpoints of {data.manifest['base_model']}</h3><p>steps: {data.steps}</p>"
                f"<table><tr><th>step</th><th>train loss</th></tr>{rows}</table>")
        path = os.path.join(self.uri, "summary.html")
        with fileio.open(path, "w") as f:
            f.write(html)
        return {path: VisualizationType.HTML}
