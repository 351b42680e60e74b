"""Text or images: the one module that tells a text model from an image model, for configs, checkpoints and
registered versions, and hands out what differs between them (the adapter that writes, the held-out evaluation, the
input a request or a row must carry, the task name). Everything else asks here instead of testing a flag."""

from dataclasses import dataclass
from pathlib import Path

IMAGE_TASK = "image_to_structured"


@dataclass(frozen=True)
class Modality:
    name: str                 # "text" or "image"
    takes_images: bool
    input_field: str          # what a generate/serve row carries: a findings text, or a list of image files
    writes: str               # what the model writes, for messages

    def row_problem(self, row) -> str | None:
        """Why a generate row cannot be written from (None when it can)."""
        return images_problem(row) if self.takes_images else findings_problem(row)

    def input_of(self, row: dict):
        return row["images"] if self.takes_images else row.get("findings", row.get("input"))


TEXT = Modality("text", False, "findings", "impressions")
IMAGE = Modality("image", True, "images", "reports")


def of_config(config) -> Modality:
    from radreport.config import VisionPipelineConfig

    return IMAGE if isinstance(config, VisionPipelineConfig) else TEXT


def of_manifest(manifest: dict) -> Modality:
    return IMAGE if manifest.get("takes_images", False) else TEXT


def of_tags(tags: dict) -> Modality:
    """A registered version's modality, from its tags."""
    from radreport.registry.tags import takes_images_of

    return IMAGE if takes_images_of(tags) else TEXT


def load_adapter(checkpoints, step: int | None):
    """The adapter that writes for this checkpoint set at `step` (None: the untuned base model); its
    `generate(rows, ...)` takes rows of the records table, `rows_for(inputs)` makes them from bare inputs."""
    from radreport.inference.adapters import ImageAdapter, TextAdapter

    return (ImageAdapter if of_manifest(checkpoints.manifest).takes_images else TextAdapter)(checkpoints, step)


def evaluate(checkpoints, records, cfg):
    """Held-out evaluation of this checkpoint set, scored and its best checkpoint chosen as its modality asks; both
    give the same Evaluation, so one pipeline step and the gate take either."""
    from radreport.evaluation.checkpoints import evaluate_checkpoints
    from radreport.evaluation.images import evaluate_images

    takes_images = of_manifest(checkpoints.manifest).takes_images
    return (evaluate_images if takes_images else evaluate_checkpoints)(checkpoints, records, cfg)


def task_of(config) -> str:
    return IMAGE_TASK if of_config(config) is IMAGE else config.format.task


def findings_problem(row) -> str | None:
    text = row.get("findings", row.get("input")) if isinstance(row, dict) else None
    return None if isinstance(text, str) and text.strip() else "needs a non-empty 'findings' (or 'input') text field"


def images_problem(row) -> str | None:
    images = row.get("images") if isinstance(row, dict) else None
    if not isinstance(images, list) or not images or not all(isinstance(p, str) for p in images):
        return "needs an 'images' list of image files (this model writes reports from images)"
    missing = next((p for p in images if not Path(p).is_file()), None)
    return f"image {missing} not found" if missing else None
