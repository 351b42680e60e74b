"""JSON-schema constrained decoding for transformers models, with lm-format-enforcer's character-level parser.

At each step only the tokens that keep the text a valid prefix of some JSON document matching the schema are allowed
(`prefix_allowed_tokens_fn`), so a schema-valid answer comes back in one call. lm-format-enforcer over xgrammar: it is
pure Python with one small dependency, where xgrammar 0.2.9 brings triton and apache-tvm-ffi into this CPU
environment; its transformers integration does not import under transformers 5, so the tokenizer table it needs is
built here (the same recipe: each token decoded after a fixed token, to see its leading space).
"""

from functools import lru_cache


class SchemaRefused(ValueError):
    """The schema is not one the parser can enforce."""


@lru_cache(maxsize=4)
def tokenizer_table(tokenizer):
    """lm-format-enforcer's view of a tokenizer's vocabulary (built once per tokenizer: ~all tokens decoded)."""
    from lmformatenforcer import TokenEnforcerTokenizerData

    vocab_size = len(tokenizer)
    anchor = tokenizer.encode("0", add_special_tokens=False)[-1]
    special = set(tokenizer.all_special_ids)
    regular = []
    for token in range(vocab_size):
        if token in special:
            continue
        after_anchor = tokenizer.decode([anchor, token])[1:]
        regular.append((token, after_anchor, len(after_anchor) > len(tokenizer.decode([token]))))
    decode = lambda tokens: tokenizer.decode(tokens).rstrip("\ufffd")  # noqa: E731 - a partial UTF-8 char is pending
    return TokenEnforcerTokenizerData(regular, decode, tokenizer.eos_token_id, False, vocab_size)


def json_parser(schema: dict):
    from lmformatenforcer import JsonSchemaParser

    try:
        return JsonSchemaParser(schema)
    except Exception as error:  # noqa: BLE001 - the parser raises many types for schemas it cannot handle
        # The parser's message can quote the schema, which is request content: only its kind is named.
        raise SchemaRefused(f"the JSON schema cannot be enforced ({type(error).__name__})") from None


def allowed_tokens_fn(tokenizer, schema: dict):
    """A `prefix_allowed_tokens_fn` for model.generate that keeps the generated text valid for `schema` (the first
    sequence it sees is taken as the prompt). The JSON is compact, no whitespace between its tokens: a weak model can
    spend its whole budget on whitespace (12 in a row by default)."""
    from lmformatenforcer import TokenEnforcer

    parser = json_parser(schema)
    enforcer = TokenEnforcer(tokenizer_table(tokenizer), parser)
    parser.config.max_consecutive_whitespaces = 0  # after TokenEnforcer: it replaces the parser's config with its own
    return lambda batch_id, sequence: enforcer.get_allowed_tokens(sequence.tolist()).allowed_tokens
