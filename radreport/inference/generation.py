"""Batched greedy generation with left padding, stopping at EOS; and one completion at a time with sampling, stop
sequences and streaming (the OpenAI-compatible endpoints)."""

from dataclasses import dataclass

import torch
from tqdm.auto import tqdm


@torch.inference_mode()
def generate(model, tokenizer, prompts: list[str], batch_size: int = 8, max_new_tokens: int = 48,
             desc: str = "generating") -> list[str]:
    model.eval()
    outputs = []
    # Sorting by length keeps padding (wasted compute) small inside each batch.
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    for start in tqdm(range(0, len(order), batch_size), desc=desc, leave=False):
        batch = [prompts[i] for i in order[start:start + batch_size]]
        inputs = tokenizer(batch, return_tensors="pt", padding=True).to(model.device)
        generated = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False,
                                   pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
        new_tokens = generated[:, inputs["input_ids"].shape[1]:]
        outputs += [t.strip() for t in tokenizer.batch_decode(new_tokens, skip_special_tokens=True)]
    by_index = dict(zip(order, outputs))
    return [by_index[i] for i in range(len(prompts))]


@dataclass
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # "stop": EOS or a stop sequence; "length": max_new_tokens ran out


def cut_at_stop(text: str, stop: list[str]) -> tuple[str, bool]:
    """The text before the first stop sequence (which is not returned, as OpenAI's API does), and whether one came."""
    cuts = [i for i in (text.find(s) for s in stop) if i >= 0]
    return (text[:min(cuts)], True) if cuts else (text, False)


@torch.inference_mode()
def complete(model, tokenizer, prompt: str, max_new_tokens: int, temperature: float = 0.0, top_p: float = 1.0,
             stop: list[str] | None = None, streamer=None, seed: int | None = None,
             json_schema: dict | None = None) -> Completion:
    """One completion: greedy at temperature 0, else sampled; `stop` ends it at the first of those strings;
    `streamer` (a transformers streamer) receives the text as it is generated; `json_schema` constrains the text to
    JSON valid for it (radreport.inference.constrained)."""
    model.eval()
    inputs = tokenizer([prompt], return_tensors="pt").to(model.device)
    options = {"do_sample": temperature > 0}
    if json_schema is not None:
        from radreport.inference.constrained import allowed_tokens_fn

        options["prefix_allowed_tokens_fn"] = allowed_tokens_fn(tokenizer, json_schema)
    if temperature > 0:
        options.update(temperature=temperature, top_p=top_p)
        if seed is not None:
            torch.manual_seed(seed)
    if stop:
        options.update(stop_strings=list(stop), tokenizer=tokenizer)
    generated = model.generate(**inputs, max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id,
                               eos_token_id=tokenizer.eos_token_id, streamer=streamer, **options)
    new_tokens = generated[0, inputs["input_ids"].shape[1]:]
    ended = len(new_tokens) > 0 and int(new_tokens[-1]) == tokenizer.eos_token_id
    text, stopped = cut_at_stop(tokenizer.decode(new_tokens, skip_special_tokens=True), stop or [])
    return Completion(text.strip(), int(inputs["input_ids"].shape[1]), len(new_tokens),
                      "stop" if ended or stopped or len(new_tokens) < max_new_tokens else "length")
