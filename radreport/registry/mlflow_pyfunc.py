"""A registered version as an MLflow pyfunc model, in models-from-code form: MLflow stores this file with the model and
runs it to load it, so nothing is pickled (a pickled class would tie every version to this module's layout at
logging time, and unpickling runs code from the store). The model's one artifact is the adapter bundle (adapter,
tokenizer, prompt manifest, retrieval index); the base model is resolved at load the way training resolved it (the
embedded Gemma from its installed package, a local folder), never copied into the registry.

    mlflow.pyfunc.load_model("models:/NAME@champion").predict(pd.DataFrame({"findings": [...]}),
                                                              params={"max_new_tokens": 96})
"""

import base64
import io
import tempfile
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel


class RadreportModel(PythonModel):
    def load_context(self, context):
        from radreport.inference.checkpoint_model import CheckpointModel
        from radreport.registry.store import checkpoint_from_bundle

        bundle = Path(context.artifacts["adapter"])
        self.files = tempfile.TemporaryDirectory(prefix="radreport-pyfunc-")  # removed with the model, not left behind
        self.model = CheckpointModel(checkpoint_from_bundle(bundle, Path(self.files.name)))

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> list[str]:
        """One text per row: an impression for a `findings` text, or for an image model a region-structured report
        for an `images` list of base64 PNG/JPEG strings (frontal first)."""
        params = params or {}
        max_new_tokens, batch_size = int(params.get("max_new_tokens", 96)), int(params.get("batch_size", 8))
        if not self.model.takes_images:
            return self.model.generate(model_input["findings"].astype(str).tolist(), batch_size, max_new_tokens)
        with tempfile.TemporaryDirectory() as tmp:
            studies = []
            for row, images in enumerate(model_input["images"]):
                paths = [Path(tmp) / f"{row}-{i}" for i in range(len(images))]
                for i, (path, data) in enumerate(zip(paths, images)):
                    path.write_bytes(checked_image(data, f"images[{row}][{i}]"))
                studies.append([str(p) for p in paths])
            return self.model.generate(studies, 1, max_new_tokens)


def checked_image(data: str, where: str) -> bytes:
    """The decoded bytes of one base64 image, refused (naming it) when it is not a PNG or JPEG within the size
    limit of /v1/report: the header is read before any pixel is decoded."""
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

    from radreport.vision.images import image_fault

    try:
        raw = base64.b64decode(data, validate=True)
    except ValueError:
        raise MlflowException(f"{where}: not base64", INVALID_PARAMETER_VALUE) from None
    fault = image_fault(io.BytesIO(raw))
    if fault:
        raise MlflowException(f"{where}: {fault}", INVALID_PARAMETER_VALUE)
    return raw


mlflow.models.set_model(RadreportModel())
