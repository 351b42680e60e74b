"""cpu-lora's bf16 linear layers: the weights multiply in bf16, everything between them (residual stream, norms,
LoRA, the loss) stays fp32, and the model computes what the fp32 model computes to bf16 rounding."""

import torch
from transformers import AutoModelForCausalLM

from radreport.training.cpu_speed import Bf16Linear, bf16_linears


def test_bf16_linears_keep_activations_fp32_and_outputs_close(tiny_model):
    reference = AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32).eval()
    model = AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32).eval()
    converted = bf16_linears(model)
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert converted == len(linears) and all(type(m) is Bf16Linear for m in linears)
    assert all(m.weight.dtype == torch.bfloat16 for m in linears)
    assert model.get_input_embeddings().weight.dtype == torch.float32  # lookups stay fp32, untied from the head
    assert model.get_output_embeddings().weight is not model.get_input_embeddings().weight or \
        not model.config.tie_word_embeddings
    ids = torch.randint(0, model.config.vocab_size, (2, 12))
    with torch.no_grad():
        hidden = model.model(input_ids=ids).last_hidden_state
        logits, expected = model(input_ids=ids).logits, reference(input_ids=ids).logits
    assert hidden.dtype == logits.dtype == torch.float32
    assert torch.allclose(logits, expected, atol=0.05 * expected.abs().max().item())


def test_lora_on_bf16_linears_trains_in_fp32(tiny_model):
    from peft import LoraConfig, get_peft_model

    model = AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32)
    bf16_linears(model)
    model = get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert trainable and all(p.dtype == torch.float32 for p in trainable)
    ids = torch.randint(0, model.config.vocab_size, (2, 10))
    loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    assert loss.dtype == torch.float32 and all(p.grad is not None and p.grad.dtype == torch.float32 for p in trainable)


def test_train_cpu_benchmark_runs_every_path_from_random_weights(tiny_model, iu_xray):
    """benchmarks/train_cpu.py end to end on the tiny model's architecture (--random-weights: how it runs on a
    machine that lacks the weights), with the issue's JSON names; the head path's losses are the reference's."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "benchmarks" / "train_cpu.py"
    done = subprocess.run([sys.executable, str(script), "--random-weights", "--model", str(tiny_model), "--data",
                           str(iu_xray), "--rows", "8", "--batch-size", "2", "--steps", "2"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert {"baseline_tokens_per_s", "tokens_per_s", "speedup", "max_loss_diff"} <= figures.keys()
    assert figures["random_weights"] and figures["head_max_loss_diff"] < 1e-4 and figures["tokens_per_s"] > 0
