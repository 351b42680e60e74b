"""LoRA supervised fine-tuning with trl's SFTTrainer (loss on the response only)."""

import logging
import time
from pathlib import Path

import pandas as pd

from radreport import tracking
from radreport.training.backends import import_unsloth_first, select_backend
from radreport.training.checkpoints import CheckpointSet, collect_checkpoints, train_manifest
from radreport.config import TrainConfig
from radreport.formatting import PROMPT_TEMPLATE, RETRIEVAL_TEMPLATE, prompt_completion
from radreport.training.models import load_model, load_tokenizer, qlora_loading, resolve_model, trainer_precision
from radreport.training.retrieval import ExampleIndex
from radreport.training.runs import (checkpoint_step, optimizer_steps, resume_point, retention, run_dir,
                                     save_last_step, stop_on_non_finite)

log = logging.getLogger(__name__)


def count_overlong(rows: list[dict], tokenizer, max_length: int) -> int:
    lengths = [len(tokenizer(r["prompt"] + r["completion"])["input_ids"]) + 1 for r in rows]
    return sum(n > max_length for n in lengths)


def peak_memory_gb(backend: str) -> float:
    if backend != "cpu-lora":
        import torch

        return torch.cuda.max_memory_allocated() / 2**30
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def load_for_training(backend: str, model_path: Path, cfg: TrainConfig):
    """(model, tokenizer, peft_config) for a backend; peft_config is None when the backend applies LoRA itself."""
    from peft import LoraConfig

    lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=cfg.target_modules, task_type="CAUSAL_LM")
    if backend == "unsloth":
        import_unsloth_first(backend)  # a no-op when run.py did it; warns when trl came first
        from unsloth import FastLanguageModel  # imported here only: it patches transformers

        model, tokenizer = FastLanguageModel.from_pretrained(model_name=str(model_path), max_seq_length=cfg.max_length,
                                                             load_in_4bit=True, dtype=None)
        model = FastLanguageModel.get_peft_model(model, r=cfg.lora_r, lora_alpha=cfg.lora_alpha,
                                                 lora_dropout=cfg.lora_dropout, target_modules=cfg.target_modules,
                                                 use_gradient_checkpointing="unsloth" if cfg.gradient_checkpointing
                                                 else False, random_state=cfg.seed)
        return model, tokenizer, None
    tokenizer = load_tokenizer(model_path)
    if backend == "hf-qlora":
        from peft import prepare_model_for_kbit_training
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(model_path, **qlora_loading())
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg.gradient_checkpointing)
        return model, tokenizer, lora
    from radreport.training.cpu_speed import bf16_linears, uses_bf16_linears

    model = load_model(model_path)
    if uses_bf16_linears(cfg.cpu_bf16_base):
        bf16_linears(model)
    return model, tokenizer, lora


def sft_args(cfg: TrainConfig, output_dir: Path, backend: str = "cpu-lora", eval_loss: bool = False,
             max_steps: int | None = None):
    """With eval_loss, the validation loss is computed at every checkpoint and the trainer tracks the best one
    (`state.best_global_step`), which `prune_checkpoints` keeps beside the last K."""
    import torch
    from trl import SFTConfig

    on_gpu = backend != "cpu-lora" and torch.cuda.is_available()  # hf-qlora runs on a CPU for smoke runs
    evaluation = dict(eval_strategy="steps", eval_steps=cfg.save_steps, per_device_eval_batch_size=cfg.batch_size,
                      metric_for_best_model="eval_loss", greater_is_better=False) if eval_loss else {}
    return SFTConfig(
        output_dir=str(output_dir),
        max_steps=max_steps or cfg.max_steps,
        **({"train_sampling_strategy": "group_by_length"} if cfg.group_by_length else {}),
        padding_free=backend == "unsloth" and has_varlen_attention(),
        per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        learning_rate=cfg.learning_rate,
        weight_decay=cfg.weight_decay,
        optim="adamw_torch",
        warmup_steps=cfg.warmup_steps,
        lr_scheduler_type=cfg.lr_scheduler,
        logging_steps=cfg.logging_steps,
        save_strategy="steps",
        save_steps=cfg.save_steps,
        max_length=cfg.max_length,
        completion_only_loss=True,
        gradient_checkpointing=cfg.gradient_checkpointing,
        use_liger_kernel=liger_kernel(cfg, backend)[0],
        seed=cfg.seed,
        **trainer_precision(on_gpu),
        report_to=["mlflow"] if tracking.active() else [],
        dataloader_num_workers=0,
        disable_tqdm=False,
        **evaluation,
    )


def liger_kernel(cfg: TrainConfig, backend: str) -> tuple[bool, str]:
    """(whether the trainer applies Liger's kernels, why). Only hf-qlora: Unsloth brings its own kernels and
    cpu-lora has no Triton. trl 1.15/1.16 refuse Liger's fused linear cross-entropy (their own fused LM head already
    computes the loss without the full logits), so Liger adds its RMSNorm, RoPE and SwiGLU kernels there."""
    import importlib.util

    import torch

    if not cfg.liger_kernel:
        return False, "off: train.liger_kernel is false"
    if backend != "hf-qlora":
        return False, f"off: {backend} backend"
    if not torch.cuda.is_available():
        return False, "off: no CUDA GPU"
    if importlib.util.find_spec("liger_kernel") is None:
        return False, "off: liger-kernel is not installed (pip install '.[gpu]')"
    return True, "on: RMSNorm, RoPE and SwiGLU kernels"


def has_varlen_attention() -> bool:
    """Whether a kernel that attends within each packed sequence is installed. Without one, padding-free batches
    (which Unsloth turns on by itself) go to SDPA as one flattened sequence with a dense block mask: at 2,048 x 8
    that is ~16x the attention work of the padded batch."""
    import importlib.util

    return any(importlib.util.find_spec(name) for name in ("flash_attn", "xformers"))


def training_examples(records: pd.DataFrame, cfg: TrainConfig) -> pd.DataFrame:
    """The train split, deduplicated, capped and weighted as configured."""
    train = records[records["split"] == "train"]
    if cfg.dedupe:
        train = train.drop_duplicates(["input", "output"])
    if cfg.max_train_examples:
        train = train.sample(n=min(cfg.max_train_examples, len(train)), random_state=cfg.seed)
    if cfg.abnormal_weight > 1 and len(train):
        from radreport.clinical.labeler import NEGATED, NO_FINDING, shared_labeler

        abnormal = [labels[NO_FINDING] == NEGATED for labels in shared_labeler().label(train["output"].tolist())]
        train = pd.concat([train, *[train[abnormal]] * (cfg.abnormal_weight - 1)])
    return train


def trainer_class(backend: str, cfg: TrainConfig):
    """trl's SFTTrainer; on CPU with compact_lm_head, the subclass that computes the LM head where the loss is. That
    subclass calls the model's parts directly, which DDP's wrapper would not see (no gradient all-reduce), so several
    processes train with trl's own loss: the same loss, with the head at every position."""
    if backend == "cpu-lora" and cfg.compact_lm_head and cfg.processes == 1:
        from radreport.training.cpu_speed import CompactHeadSFTTrainer

        return CompactHeadSFTTrainer
    from trl import SFTTrainer

    return SFTTrainer


def train_lora(records: pd.DataFrame, cfg: TrainConfig, task: str, out_dir: Path, callbacks=()) -> CheckpointSet | None:
    """Fine-tune LoRA adapters on the train split in this process (one rank of several when launched by
    distributed.py); returns every saved checkpoint in `out_dir` (None on ranks other than 0)."""
    from datasets import Dataset

    train = training_examples(records, cfg)
    validation = records[records["split"] == "validation"]
    validation = validation.sample(n=min(cfg.eval_loss_examples, len(validation)), random_state=cfg.seed)
    if train.empty:
        raise ValueError("no training records: the train split is empty for this task")
    backend, why = select_backend(cfg.backend)  # fails here, before any model loads
    log.info("training backend %s (%s)", backend, why)
    tracking.set_tags({"train_backend": backend, "train_backend_reason": why,
                       "train_liger_kernel": liger_kernel(cfg, backend)[1]})
    model_path = resolve_model(cfg.model)
    model, tokenizer, peft_config = load_for_training(backend, model_path, cfg)
    if backend == "cpu-lora":
        from radreport.training.cpu_speed import uses_bf16_linears

        tracking.set_tags({"cpu_base_dtype": "bf16 linear weights, fp32 activations"
                           if uses_bf16_linears(cfg.cpu_bf16_base) else "float32",
                           "cpu_lm_head": "supervised positions" if cfg.compact_lm_head else "every position"})
    tokenizer.padding_side = "right"
    index, examples = ExampleIndex.of_training(train) if cfg.retrieval else (None, None)
    rows = prompt_completion(train, examples)
    overlong = count_overlong(rows, tokenizer, cfg.max_length)
    if overlong:
        log.warning("%d of %d training examples exceed max_length=%d and are truncated", overlong, len(rows), cfg.max_length)
    eval_rows = prompt_completion(validation, index.examples(validation["input"].tolist())
                                  if index and len(validation) else None)  # eval_loss_examples: 0 asks for none
    work_dir = run_dir(rows, cfg, task)
    args = sft_args(cfg, work_dir, backend, eval_loss=bool(eval_rows), max_steps=optimizer_steps(cfg, len(rows)))
    with args.main_process_first(desc="choosing the checkpoint to resume from"):  # one rank clears, all then agree
        resume_from = resume_point(work_dir, cfg.resume, clears=args.process_index == 0)
    trainer = trainer_class(backend, cfg)(
        model=model, args=args,
        train_dataset=Dataset.from_list(rows), eval_dataset=Dataset.from_list(eval_rows) if eval_rows else None,
        processing_class=tokenizer, peft_config=peft_config,
        callbacks=[stop_on_non_finite(), retention(cfg.keep_last_checkpoints), *callbacks])
    started = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    seconds = time.perf_counter() - started
    save_last_step(trainer, work_dir, cfg, evaluate=bool(eval_rows))
    if not trainer.is_world_process_zero():
        return None  # rank 0 alone writes the checkpoint set and logs
    tokens = next((e["num_tokens"] for e in reversed(trainer.state.log_history) if "num_tokens" in e), 0)
    summary = {"backend": backend, "processes": args.world_size, "train_examples": len(rows), "distinct_train_examples": len(train.drop_duplicates()), "truncated_examples": overlong,
               "eval_loss_examples": len(eval_rows), "train_seconds": round(seconds, 1),
               "final_train_loss": result.training_loss, "global_step": trainer.state.global_step,
               "resumed_from_step": checkpoint_step(resume_from) if resume_from else 0,
               "best_eval_loss_step": trainer.state.best_global_step,
               "tokens_per_s": round(tokens / seconds, 1), "peak_memory_gb": round(peak_memory_gb(backend), 2)}
    tracking.log_metrics({k: v for k, v in summary.items() if k != "global_step"})
    template = RETRIEVAL_TEMPLATE if cfg.retrieval else PROMPT_TEMPLATE
    manifest = train_manifest(cfg, task, summary, instruction=train["instruction"].mode().iat[0],
                              prompt_template=template)
    checkpoints = collect_checkpoints(work_dir, out_dir, tokenizer, manifest, trainer.state.log_history)
    if index:
        index.save(out_dir)
    return checkpoints
