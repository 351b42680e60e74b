"""A tiny random Llama with a byte-level BPE tokenizer trained on report text: real code paths, in seconds."""

from pathlib import Path

from radreport.ingest.sample_data import NORMAL, ABNORMAL
from radreport.formatting import PROMPT_TEMPLATE


def build_tiny_model(out: Path, width: int = 32) -> Path:
    """`width` 64 where bitsandbytes' CPU kernels run it in 4 bits under LoRA (they refuse width 32 there)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    if (out / "config.json").exists():
        return out
    corpus = [PROMPT_TEMPLATE] + [s for v in NORMAL.values() for s in v] + [s for row in ABNORMAL for s in row[:2]]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=400, special_tokens=["<pad>", "<bos>", "<eos>"],
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", bos_token="<bos>", eos_token="<eos>")
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=width, intermediate_size=2 * width, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512,
                         pad_token_id=0, bos_token_id=1, eos_token_id=2)
    LlamaForCausalLM(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
