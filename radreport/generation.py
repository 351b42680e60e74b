"""Batched greedy generation with left padding, stopping at EOS."""

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
