"""A checkpoint set's last adapter on its base model, ready to write: impressions for findings texts (text models) or
region-structured reports for studies' images (image models), through the modality's adapter. What `serve` and
`generate` answer with (serving/models.py) and what a registered version loads as an MLflow pyfunc model
(registry/mlflow_pyfunc.py)."""

from radreport.inference.generation import Completion
from radreport.modality import load_adapter, of_manifest


class CheckpointModel:
    """A trained adapter on its base model, ready to write: impressions for findings texts (text models) or
    region-structured reports for studies' images (image models), through the modality's adapter."""

    def __init__(self, checkpoints):
        self.checkpoints, self.task = checkpoints, checkpoints.manifest["task"]
        self.modality = of_manifest(checkpoints.manifest)
        self.adapter = load_adapter(checkpoints, checkpoints.steps[-1])

    @property
    def takes_images(self) -> bool:
        return self.modality.takes_images

    @property
    def tokenizer(self):
        return self.adapter.tokenizer

    def prompt(self, text: str) -> str:
        return self.adapter.prompts(self.adapter.rows_for([text]))[0]

    def generate(self, inputs: list, batch_size: int = 8, max_new_tokens: int = 96) -> list[str]:
        """Findings texts for a text model; lists of image paths (one list per study) for an image model."""
        return self.adapter.generate(self.adapter.rows_for(inputs), batch_size, max_new_tokens)

    def complete(self, text: str, max_new_tokens: int, temperature: float = 0.0, top_p: float = 1.0,
                 stop: list[str] | None = None, seed: int | None = None, streamer=None,
                 json_schema: dict | None = None) -> Completion:
        """One input (a findings text for findings_to_impression) in the task's prompt, as in training."""
        return self.adapter.complete(text, max_new_tokens, temperature, top_p, stop, seed, streamer, json_schema)
