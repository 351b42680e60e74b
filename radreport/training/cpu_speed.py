"""CPU LoRA at ~5x the throughput of trl's default path, with the same loss to rounding.

Two levers, measured with Gemma-3-270M on 2 AMD EPYC cores (benchmarks/train_cpu.py):
- The LM head only where the loss is. Off Triton devices trl's fused head scores every position; Gemma's tied
  262,144-word head is ~63% of the model's FLOPs per token, and only the response (~12% of the tokens) carries loss.
- The frozen linear layers' weights in bf16 where the CPU multiplies bf16 natively (AVX-512 BF16 or AMX: ~2.3x fp32
  GEMMs here), their inputs cast to bf16 and outputs back to fp32. The residual stream, norms, attention scores,
  embeddings, LoRA weights and optimizer state stay fp32: a model loaded wholly in bf16 drifts from the fp32
  trajectory (max per-step loss difference 0.085 over 11 steps, against 0.05 wanted), mostly through rounding in
  the residual stream and norms, not in the GEMMs.
"""

import torch
import torch.nn.functional as F
from trl import SFTTrainer

from radreport.training.models import cpu_computes_bf16


def uses_bf16_linears(setting: str) -> bool:
    """train.cpu_bf16_base auto|on|off: whether cpu-lora multiplies the frozen linear weights in bf16."""
    return setting == "on" or (setting == "auto" and cpu_computes_bf16())


class Bf16Linear(torch.nn.Linear):
    """A frozen linear layer whose weight is stored and multiplied in bf16; its output keeps the input's dtype."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x.to(self.weight.dtype), self.weight, self.bias).to(x.dtype)


def bf16_linears(model) -> int:
    """Turn every plain linear layer of an fp32 model into a Bf16Linear, the LM head included (untied from the
    input embedding, which stays fp32 for lookups); returns how many. Call before LoRA wraps the layers."""
    head = model.get_output_embeddings()
    if head is not None and head.weight is model.get_input_embeddings().weight:
        head.weight = torch.nn.Parameter(head.weight.detach().clone(), requires_grad=False)
    converted = 0
    for module in model.modules():
        if type(module) is torch.nn.Linear:
            module.weight.data = module.weight.data.to(torch.bfloat16)
            if module.bias is not None:
                module.bias.data = module.bias.data.to(torch.bfloat16)
            module.__class__ = Bf16Linear
            converted += 1
    return converted


def supervised_logits(model, inputs: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits at the positions whose next token is supervised, those tokens): the backbone over every position,
    the LM head over the supervised ones only."""
    causal_lm = model.get_base_model() if hasattr(model, "get_base_model") else model
    hidden = causal_lm.base_model(input_ids=inputs["input_ids"], attention_mask=inputs.get("attention_mask"),
                                  use_cache=False).last_hidden_state[:, :-1]
    labels = inputs["labels"][:, 1:]
    mask = labels != -100
    logits = causal_lm.get_output_embeddings()(hidden[mask]).float()
    cap = getattr(causal_lm.config.get_text_config(), "final_logit_softcapping", None)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    return logits, labels[mask]


class CompactHeadSFTTrainer(SFTTrainer):
    """trl's SFTTrainer with the LM head computed only at supervised positions (trl does this only on Triton
    devices). Everything else (data collation, completion-only masks, EOS, logging, checkpoints) is trl's."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        mode = "train" if self.model.training else "eval"
        logits, targets = supervised_logits(model, inputs)
        total = num_items_in_batch if num_items_in_batch is not None else len(targets)
        loss = F.cross_entropy(logits, targets, reduction="sum") / torch.as_tensor(total).clamp(min=1)
        with torch.no_grad():
            n = max(len(targets), 1)
            log_p = logits.log_softmax(-1)
            self._metrics[mode]["entropy"].append(float(-(log_p.exp() * log_p).sum() / n))
            self._metrics[mode]["mean_token_accuracy"].append(float((logits.argmax(-1) == targets).sum() / n))
        if mode == "train":
            self._total_train_tokens += int(inputs["attention_mask"].sum())
        self._metrics[mode]["num_tokens"] = [self._total_train_tokens]
        return (loss, None) if return_outputs else loss
