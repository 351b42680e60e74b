"""LoRA supervised fine-tuning with trl's SFTTrainer (loss on the response only)."""

import hashlib
import json
import logging
import math
import shutil
import time
from pathlib import Path

import pandas as pd

from radreport import tracking
from radreport.training.backends import import_unsloth_first, select_backend
from radreport.training.checkpoints import CheckpointSet, collect_checkpoints
from radreport.config import TrainConfig
from radreport.formatting import PROMPT_TEMPLATE, RETRIEVAL_TEMPLATE, prompt_completion
from radreport.training.models import load_model, load_tokenizer, qlora_loading, resolve_model, trainer_precision
from radreport.paths import home
from radreport.training.retrieval import ExampleIndex

log = logging.getLogger(__name__)


def count_overlong(rows: list[dict], tokenizer, max_length: int) -> int:
    lengths = [len(tokenizer(r["prompt"] + r["completion"])["input_ids"]) + 1 for r in rows]
    return sum(n > max_length for n in lengths)


def stop_on_non_finite():
    """A callback that stops training with a clear error when the logged loss or gradient norm is NaN or
    infinite (trl's fused loss can report 0 while the gradients are NaN); earlier checkpoints stay."""
    from transformers import TrainerCallback

    class StopOnNonFinite(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            for name in ("loss", "grad_norm"):
                value = (logs or {}).get(name)
                if value is not None and not math.isfinite(value):
                    saved = sorted(Path(args.output_dir).glob("checkpoint-*"))
                    raise FloatingPointError(f"training {name} became {value} at step {state.global_step}; "
                                             f"last good checkpoint: {saved[-1] if saved else 'none'}")

    return StopOnNonFinite()


def checkpoint_step(path: Path) -> int:
    return int(path.name.split("-")[1])


def prune_checkpoints(work_dir: Path, keep_last: int | None, best_step: int | None) -> None:
    """Delete every checkpoint but the last `keep_last` and the best by eval loss. (The trainer's own
    save_total_limit=1 deletes the last one at the end of training when a best one is tracked.)"""
    if not keep_last:
        return
    saved = sorted(work_dir.glob("checkpoint-*"), key=checkpoint_step)
    for path in saved[:-keep_last]:
        if checkpoint_step(path) != best_step:
            shutil.rmtree(path)


def retention(keep_last: int | None):
    from transformers import TrainerCallback

    class Retention(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            if state.is_world_process_zero:  # the rank that saves is the one that prunes
                prune_checkpoints(Path(args.output_dir), keep_last, state.best_global_step)

    return Retention()


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


def optimizer_steps(cfg: TrainConfig, examples: int) -> int:
    """max_steps, or enough steps for `epochs` passes over `examples`."""
    if cfg.epochs is None:
        return cfg.max_steps
    return max(1, math.ceil(cfg.epochs * examples / (cfg.batch_size * cfg.grad_accum)))


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


def run_dir(rows: list[dict], cfg: TrainConfig, task: str) -> Path:
    """Where a run with these examples and this config keeps its trainer checkpoints, so a rerun can resume."""
    digest = hashlib.sha256(json.dumps([rows, cfg.model_dump(exclude={"resume"}), task]).encode()).hexdigest()[:16]
    return home() / "runs" / f"train-{digest}"


def checkpoint_fault(checkpoint: Path) -> str | None:
    """Why a trainer checkpoint cannot be resumed from, or None. Each file is read as resuming will read it, so
    a half-written or corrupt one is found here rather than after the model has loaded."""
    import torch
    from safetensors import safe_open

    try:
        json.loads((checkpoint / "trainer_state.json").read_text())
        json.loads((checkpoint / "adapter_config.json").read_text())
        with safe_open(str(checkpoint / "adapter_model.safetensors"), "pt") as weights:
            if not list(weights.keys()):
                return "adapter_model.safetensors holds no tensors"
        for state in ("optimizer.pt", "scheduler.pt"):
            torch.load(checkpoint / state, map_location="cpu", weights_only=True)
        read_rng_state(checkpoint / "rng_state.pth")
    except Exception as error:  # noqa: BLE001 - any way of failing to read it means "not resumable"
        return f"{type(error).__name__}: {str(error).splitlines()[0][:120] if str(error) else 'unreadable'}"
    return None


def read_rng_state(path: Path) -> None:
    """Load the trainer's saved random states as resuming does, into throwaway generators (the global ones are
    left as they are)."""
    import random

    import numpy as np
    import torch
    from transformers.trainer_pt_utils import safe_globals

    with safe_globals():
        states = torch.load(path, map_location="cpu", weights_only=True)
    random.Random().setstate(states["python"])
    np.random.RandomState().set_state(states["numpy"])
    torch.Generator().set_state(states["cpu"])


def latest_complete_checkpoint(work_dir: Path) -> Path | None:
    """The newest checkpoint that reads back whole (state, adapter weights, optimizer, scheduler, random states);
    a newer half-written or corrupt one is skipped with a warning saying why."""
    checkpoints = sorted(work_dir.glob("checkpoint-*"), key=checkpoint_step, reverse=True)
    for checkpoint in checkpoints:
        fault = checkpoint_fault(checkpoint)
        if fault is None:
            return checkpoint
        log.warning("skipping checkpoint %s: %s", checkpoint, fault)
    return None


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
        resume_from = latest_complete_checkpoint(work_dir) if cfg.resume else None
        if resume_from:
            log.warning("resuming from %s", resume_from)
            tracking.set_tags({"train_resumed_from": resume_from.name})
        elif work_dir.exists() and args.process_index == 0:
            shutil.rmtree(work_dir)  # a fresh start: no checkpoint of an earlier attempt may be mistaken for this run's
    trainer = trainer_class(backend, cfg)(
        model=model, args=args,
        train_dataset=Dataset.from_list(rows), eval_dataset=Dataset.from_list(eval_rows) if eval_rows else None,
        processing_class=tokenizer, peft_config=peft_config,
        callbacks=[stop_on_non_finite(), retention(cfg.keep_last_checkpoints), *callbacks])
    started = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    seconds = time.perf_counter() - started
    if trainer.state.global_step % cfg.save_steps:
        trainer.save_model(str(work_dir / f"checkpoint-{trainer.state.global_step}"))  # rank 0 writes (FSDP: gathers)
        if eval_rows:
            trainer.evaluate()
        if trainer.is_world_process_zero():
            prune_checkpoints(work_dir, cfg.keep_last_checkpoints, trainer.state.best_global_step)
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
    manifest = {"base_model": cfg.model, "task": task, "instruction": train["instruction"].mode().iat[0],
                "prompt_template": template, "train_config": cfg.model_dump(), "summary": summary}
    checkpoints = collect_checkpoints(work_dir, out_dir, tokenizer, manifest, trainer.state.log_history)
    if index:
        index.save(out_dir)
    return checkpoints
