"""k sampled texts per prompt, fast on a CPU.

`model.generate(num_return_sequences=k)` copies each prompt k times before encoding it, and keeps every finished
sequence in the batch, padded, until the longest one ends. Here each prompt is encoded once, its key/value cache
is repeated k times, and a sequence leaves the batch (its cache rows dropped) as soon as it writes EOS. Prompts are
batched by length, so little of the encoding is padding. With temperature 0 the result is greedy decoding, equal to
`generate`'s (the test pins it).
"""

import torch
from tqdm.auto import tqdm


def next_tokens(logits: torch.Tensor, temperature: float, top_p: float, generator: torch.Generator) -> torch.Tensor:
    """One token per row: argmax at temperature 0, else a draw from the top-p nucleus of softmax(logits / T)."""
    if temperature == 0:
        return logits.argmax(-1)
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    sorted_probs, order = probs.sort(dim=-1, descending=True)
    outside = sorted_probs.cumsum(-1) - sorted_probs > top_p  # tokens past the nucleus (the first always stays)
    sorted_probs[outside] = 0
    drawn = torch.multinomial(sorted_probs, 1, generator=generator).squeeze(-1)
    return order.gather(-1, drawn[:, None]).squeeze(-1)


@torch.inference_mode()
def sample_batch(model, tokenizer, prompts: list[str], k: int, max_new_tokens: int, temperature: float, top_p: float,
                 generator: torch.Generator) -> list[list[str]]:
    tokenizer.padding_side = "left"
    inputs = tokenizer(prompts, return_tensors="pt", padding=True).to(model.device)
    mask = inputs["attention_mask"]
    positions = (mask.cumsum(-1) - 1).clamp(min=0)  # as generate() places left-padded prompts
    out = model(input_ids=inputs["input_ids"], attention_mask=mask, position_ids=positions, use_cache=True,
                logits_to_keep=1)
    cache = out.past_key_values
    cache.batch_repeat_interleave(k)
    logits = out.logits[:, -1].repeat_interleave(k, dim=0)
    mask, position = mask.repeat_interleave(k, dim=0), mask.sum(-1).repeat_interleave(k, dim=0)
    alive = torch.arange(len(prompts) * k)  # which of the n*k sequences each batch row is
    written = [[] for _ in range(len(alive))]
    for _ in range(max_new_tokens):
        tokens = next_tokens(logits, temperature, top_p, generator)
        for row, token in zip(alive.tolist(), tokens.tolist()):
            written[row].append(token)
        going = tokens != tokenizer.eos_token_id
        if not going.any():
            break
        if not going.all():  # finished sequences leave the batch
            keep = going.nonzero().squeeze(-1)
            cache.batch_select_indices(keep)
            alive, tokens, mask, position = alive[keep], tokens[keep], mask[keep], position[keep]
        mask = torch.cat([mask, mask.new_ones(len(alive), 1)], dim=-1)
        out = model(input_ids=tokens[:, None], attention_mask=mask, position_ids=position[:, None],
                    past_key_values=cache, use_cache=True)
        logits, position = out.logits[:, -1], position + 1
    texts = [tokenizer.decode(t, skip_special_tokens=True).strip() for t in written]
    return [texts[i * k:(i + 1) * k] for i in range(len(prompts))]


def sample(model, tokenizer, prompts: list[str], k: int, max_new_tokens: int = 60, temperature: float = 0.8,
           top_p: float = 0.95, batch_size: int = 8, seed: int = 0) -> list[list[str]]:
    """k texts per prompt (in the prompts' order), reproducible for a seed on one machine."""
    model.eval()
    generator = torch.Generator(device=model.device).manual_seed(seed)
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    by_index = {}
    for start in tqdm(range(0, len(order), batch_size), desc=f"sampling {k} per study", leave=False):
        chosen = order[start:start + batch_size]
        texts = sample_batch(model, tokenizer, [prompts[i] for i in chosen], k, max_new_tokens, temperature, top_p,
                             generator)
        by_index.update(zip(chosen, texts))
    return [by_index[i] for i in range(len(prompts))]
