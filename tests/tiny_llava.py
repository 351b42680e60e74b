"""A tiny random LLaVA-Next (CLIP vision tower + Llama language model) with a processor assembled locally: an image
processor from its config, a byte-level BPE tokenizer trained on report text, and a Mistral-style chat template, as
llava-v1.6-mistral-7b-hf has. Real code paths on CPU in seconds."""

from pathlib import Path

from radreport.ingest.sample_data import ABNORMAL, NORMAL

GRID = [[32, 32], [32, 64], [64, 32]]
TINY_VISION = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, image_size=32,
                   patch_size=8, projection_dim=32)
TINY_TEXT = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=4, max_position_embeddings=1024)
CHAT_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'user' %}[INST] "
    "{% for part in message['content'] %}{% if part['type'] == 'image' %}<image>\n{% else %}{{ part['text'] }}"
    "{% endif %}{% endfor %} [/INST]{% else %} {{ message['content'][0]['text'] }}{{ eos_token }}{% endif %}"
    "{% endfor %}"
)


def build_tiny_llava(out: Path, vision: dict = TINY_VISION, text: dict = TINY_TEXT, grid: list = GRID,
                     device: str = "cpu") -> Path:
    """Tiny by default; the GPU benchmark passes LLaVA-Next-7B shapes (the text vocabulary may exceed the
    tokenizer's)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import (CLIPVisionConfig, LlamaConfig, LlavaNextConfig, LlavaNextForConditionalGeneration,
                              LlavaNextProcessor, PreTrainedTokenizerFast)
    from transformers.models.llava_next.image_processing_pil_llava_next import LlavaNextImageProcessorPil

    if (out / "config.json").exists():
        return out
    corpus = ["Generate an X-ray report for Lung, Heart, Mediastinal, and Bone. [INST] [/INST]",
              "Lung: None. Heart: None. Mediastinal: None. Bone: None. Others: None."]
    corpus += [s for v in NORMAL.values() for s in v] + [s for row in ABNORMAL for s in row[:2]]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=500, special_tokens=["<pad>", "<s>", "</s>", "<image>"],
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", bos_token="<s>", eos_token="</s>",
                                        extra_special_tokens={"image_token": "<image>"})
    side = vision["image_size"]
    image_processor = LlavaNextImageProcessorPil(size={"shortest_edge": side}, crop_size={"height": side, "width": side},
                                                 image_grid_pinpoints=grid)
    processor = LlavaNextProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=vision["patch_size"],
                                   vision_feature_select_strategy="default", num_additional_image_tokens=1,
                                   chat_template=CHAT_TEMPLATE)
    torch.manual_seed(0)
    config = LlavaNextConfig(
        vision_config=CLIPVisionConfig(**vision),
        text_config=LlamaConfig(**{"vocab_size": len(tokenizer), **text}, pad_token_id=0, bos_token_id=1, eos_token_id=2),
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"), image_grid_pinpoints=grid,
        vision_feature_select_strategy="default", vision_feature_layer=-1)
    with torch.device(device):  # built in its final dtype: a 7B model in fp32 first would need ~28 GB more
        model = LlavaNextForConditionalGeneration._from_config(
            config, dtype=torch.bfloat16 if device == "cuda" else torch.float32)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out
