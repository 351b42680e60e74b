"""The adapters that write: a checkpoint set's adapter at one step (or the untuned base model, step None) on its
base model, generating from rows of the records table. `modality.load_adapter` picks the class; evaluation, rater
packets, `generate` and `serve` all write through one of these."""

import json

from radreport.inference.generation import Completion, complete, generate
from radreport.vocabulary import INSTRUCTIONS


def inference_model(checkpoints, step: int | None = None):
    """The untuned base model (step None), or the base with checkpoint `step`'s adapter: merged into 16/32-bit
    weights, so generation costs what the base model costs; left unmerged on a quantized base (a 4-bit one as the
    GPU recipe's), where a merge would round W + BA back to 4 bits and every figure would judge a model that was
    never trained. bf16 where the hardware computes it natively, else fp32 (see models)."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from radreport.training.models import load_for_inference, resolve_model

    model = load_for_inference(AutoModelForCausalLM, resolve_model(checkpoints.manifest["base_model"]))
    if step is None:
        return model
    adapted = PeftModel.from_pretrained(model, checkpoints.adapter(step))
    return adapted if is_quantized(model) else adapted.merge_and_unload()


def is_quantized(model) -> bool:
    """Whether the loaded weights are quantized (bitsandbytes, GPTQ, ...): transformers keeps their quantizer."""
    return getattr(model, "hf_quantizer", None) is not None


class TextAdapter:
    """Writes from findings-like texts: rows carry `instruction` and `input`, as Alpaca records do."""

    def __init__(self, checkpoints, step: int | None):
        from radreport.training.models import load_tokenizer

        self.checkpoints, self.task = checkpoints, checkpoints.manifest["task"]
        self.model, self.tokenizer = inference_model(checkpoints, step), load_tokenizer(checkpoints.tokenizer)

    def rows_for(self, inputs: list[str]) -> list[dict]:
        instruction = self.checkpoints.manifest.get("instruction") or INSTRUCTIONS[self.task]  # as trained
        return [{"instruction": instruction, "input": text} for text in inputs]

    def prompts(self, rows: list[dict]) -> list[str]:
        from radreport.training.retrieval import prompts_for

        return prompts_for(self.checkpoints, [r["instruction"] for r in rows], [r["input"] for r in rows])

    def generate(self, rows: list[dict], batch_size: int = 8, max_new_tokens: int = 96,
                 desc: str = "generating") -> list[str]:
        return generate(self.model, self.tokenizer, self.prompts(rows), batch_size, max_new_tokens, desc=desc)

    def complete(self, text: str, max_new_tokens: int, temperature: float = 0.0, top_p: float = 1.0,
                 stop: list[str] | None = None, seed: int | None = None, streamer=None,
                 json_schema: dict | None = None) -> Completion:
        """One input in the task's prompt, as in training (the OpenAI-compatible routes)."""
        prompt = self.prompts(self.rows_for([text]))[0]
        return complete(self.model, self.tokenizer, prompt, max_new_tokens, temperature, top_p, stop, streamer, seed,
                        json_schema)


class ImageAdapter:
    """Writes region-structured reports from a study's images: rows carry `images` (a JSON list of files) and
    `prompt`, as conversation records do."""

    def __init__(self, checkpoints, step: int | None):
        from radreport.vision.training import load_vision_adapter

        self.checkpoints, self.task = checkpoints, checkpoints.manifest["task"]
        self.model, self.processor = load_vision_adapter(checkpoints, step)

    def rows_for(self, inputs: list[list[str]]) -> list[dict]:
        prompt = self.checkpoints.manifest["prompt_template"]
        return [{"images": json.dumps(paths), "prompt": prompt} for paths in inputs]

    def generate(self, rows: list[dict], batch_size: int = 4, max_new_tokens: int = 96,
                 desc: str = "generating") -> list[str]:
        from radreport.vision.training import generate_reports

        return generate_reports(self.model, self.processor, rows, max_new_tokens, batch_size, desc)
