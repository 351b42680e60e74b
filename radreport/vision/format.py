"""Conversation records for image -> region-structured report, and the collate function that supervises only the
assistant's report.

A record holds the study's images (frontal first), the user prompt and the target: the findings rendered by region
("Lung: ...\\nHeart: ...") from the structuring stage. The conversation is the processor's own chat template: the
user turn carries one image placeholder per image and the prompt; the assistant turn is the report.
"""

import pandas as pd

from radreport.errors import RadreportError

from radreport.formatting import task_fields
from radreport.vision.images import FORMATS, image_paths

RECORD_COLUMNS = ["report_id", "split", "images", "prompt", "output"]


def vision_records(structured: pd.DataFrame, prompt: str) -> tuple[pd.DataFrame, int]:
    """(records for studies with images and findings, how many were skipped for lacking findings)."""
    others = sorted(set(structured.get("modality", pd.Series(dtype=str)).dropna()) - {"chest_xray"})
    if others:  # the image path's model, prompt and region parsing are the chest film's
        raise RadreportError(f"the image pipeline writes chest X-ray reports; these studies include {others}")
    rows = []
    texts = structured.drop(columns="images").fillna("")
    for row, images in zip(texts.itertuples(index=False), structured["images"]):
        _, target = task_fields(row, "findings_to_structured")
        if target:
            rows.append([row.report_id, row.split, images, prompt, target])
    return pd.DataFrame(rows, columns=RECORD_COLUMNS), len(structured) - len(rows)


def conversation(n_images: int, prompt: str, report: str | None = None) -> list[dict]:
    user = {"role": "user", "content": [{"type": "image"}] * n_images + [{"type": "text", "text": prompt}]}
    if report is None:
        return [user]
    return [user, {"role": "assistant", "content": [{"type": "text", "text": report}]}]


def load_images(images: str) -> list:
    from PIL import Image

    return [Image.open(p, formats=FORMATS).convert("RGB") for p in image_paths(images)]


class VisionCollator:
    """Batches records into processor inputs with labels: -100 on the user turn (image tokens included) and
    padding, the token ids on the assistant's report and its end-of-turn."""

    def __init__(self, processor):
        self.processor = processor

    def texts(self, record: dict) -> tuple[str, str]:
        n = len(image_paths(record["images"]))
        full = self.processor.apply_chat_template(conversation(n, record["prompt"], record["output"]), tokenize=False)
        user = self.processor.apply_chat_template(conversation(n, record["prompt"]), tokenize=False,
                                                  add_generation_prompt=True)
        if not full.startswith(user):
            raise ValueError("the chat template does not render the user turn as a prefix of the conversation; "
                             "the report tokens cannot be told apart for the loss")
        return self.ending_in_eos(full, record["output"]), user

    def ending_in_eos(self, full: str, report: str) -> str:
        """The conversation with the report's turn ending in an end token the model stops on. Some published
        templates end it with plain text (llava-v1.6-mistral writes a literal `<\\s> `, not `</s>`): the model would
        be taught that text and never stop. A tail holding a special token (`</s>`, `<|im_end|>`) is kept."""
        end = full.rfind(report) + len(report)
        if end < len(report):
            raise ValueError("the chat template does not render the report verbatim")
        tail = full[end:]
        if any(token in tail for token in self.processor.tokenizer.all_special_tokens):
            return full
        return full[:end] + self.processor.tokenizer.eos_token

    def __call__(self, records: list[dict]) -> dict:
        texts, users = zip(*(self.texts(r) for r in records))
        images = [load_images(r["images"]) for r in records]
        self.processor.tokenizer.padding_side = "right"
        batch = self.processor(text=list(texts), images=images, padding=True, return_tensors="pt")
        labels = batch["input_ids"].clone()
        for i, (user, study_images) in enumerate(zip(users, images)):
            user_length = self.processor(text=[user], images=[study_images], return_tensors="pt")["input_ids"].shape[1]
            labels[i, :user_length] = -100
        labels[batch["attention_mask"] == 0] = -100
        batch["labels"] = labels
        return dict(batch)
