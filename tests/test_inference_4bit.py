"""Evaluation judges the adapter that was trained: on a base stored in 4 bits (bitsandbytes, run for real on this
CPU) the adapter stays unmerged, since merging would round W + BA back to NF4."""

import json
import shutil

import torch


def four_bit_checkpoint(tmp_path):
    """A 4-bit copy of a tiny Llama of width 64 (bitsandbytes' CPU kernels refuse width 32 once LoRA wraps them)
    and a checkpoint set with one adapter whose B is not zero."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    from tests.tiny_model import build_tiny_model

    full, base = build_tiny_model(tmp_path / "base-fp32", width=64), tmp_path / "base-4bit"
    quantized = AutoModelForCausalLM.from_pretrained(full, quantization_config=BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.float32))
    quantized.save_pretrained(base)
    checkpoints = tmp_path / "checkpoints"
    torch.manual_seed(0)
    lora = get_peft_model(AutoModelForCausalLM.from_pretrained(full), LoraConfig(
        r=8, lora_alpha=64, target_modules=["q_proj", "v_proj", "up_proj", "down_proj"], init_lora_weights=False))
    lora.save_pretrained(checkpoints / "step-1")
    shutil.copytree(full, checkpoints / "tokenizer", ignore=shutil.ignore_patterns("*.safetensors"))
    (checkpoints / "manifest.json").write_text(json.dumps({"base_model": str(base), "task": "findings_to_impression"}))
    return checkpoints


def test_a_4bit_base_is_evaluated_with_its_adapter_unmerged(tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from radreport.inference.adapters import inference_model
    from radreport.training.checkpoints import CheckpointSet

    checkpoints = CheckpointSet(str(four_bit_checkpoint(tmp_path)))
    tokens = torch.tensor([[1, 5, 17, 42, 99, 7, 3]])
    evaluated = inference_model(checkpoints, 1)
    trained = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(checkpoints.manifest["base_model"]),
                                        checkpoints.adapter(1))
    merged = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(checkpoints.manifest["base_model"]),
                                       checkpoints.adapter(1)).merge_and_unload()
    with torch.no_grad():
        ours, theirs, rounded = (m(tokens).logits.float() for m in (evaluated, trained, merged))
    assert torch.allclose(ours, theirs, atol=1e-4)
    assert (rounded - theirs).abs().max() > 1e-3  # what a merge would have evaluated instead
