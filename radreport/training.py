"""LoRA supervised fine-tuning with trl's SFTTrainer (loss on the response only)."""

import json
import logging
import shutil
import time
from pathlib import Path

import pandas as pd

from radreport import tracking
from radreport.checkpoints import CheckpointSet
from radreport.config import TrainConfig
from radreport.formatting import PROMPT_TEMPLATE, prompt_completion
from radreport.models import load_model, load_tokenizer, resolve_model

log = logging.getLogger(__name__)
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")


def count_overlong(rows: list[dict], tokenizer, max_length: int) -> int:
    lengths = [len(tokenizer(r["prompt"] + r["completion"])["input_ids"]) + 1 for r in rows]
    return sum(n > max_length for n in lengths)


def sft_args(cfg: TrainConfig, output_dir: Path):
    from trl import SFTConfig

    return SFTConfig(
        output_dir=str(output_dir),
        max_steps=cfg.max_steps,
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
        save_only_model=True,
        max_length=cfg.max_length,
        completion_only_loss=True,
        gradient_checkpointing=cfg.gradient_checkpointing,
        seed=cfg.seed,
        bf16=False,
        use_cpu=True,
        report_to=["mlflow"] if tracking.active() else [],
        dataloader_num_workers=0,
        disable_tqdm=False,
    )


def train_lora(records: pd.DataFrame, cfg: TrainConfig, task: str, out_dir: Path) -> CheckpointSet:
    """Fine-tune LoRA adapters on the train split; returns every saved checkpoint in `out_dir`."""
    from datasets import Dataset
    from peft import LoraConfig
    from trl import SFTTrainer

    train = records[records["split"] == "train"]
    if cfg.max_train_examples:
        train = train.sample(n=min(cfg.max_train_examples, len(train)), random_state=cfg.seed)
    if train.empty:
        raise ValueError("no training records: the train split is empty for this task")
    model_path = resolve_model(cfg.model)
    tokenizer = load_tokenizer(model_path)
    tokenizer.padding_side = "right"
    rows = prompt_completion(train)
    overlong = count_overlong(rows, tokenizer, cfg.max_length)
    if overlong:
        log.warning("%d of %d training examples exceed max_length=%d and are truncated", overlong, len(rows), cfg.max_length)
    work_dir = out_dir / "trainer"
    trainer = SFTTrainer(
        model=load_model(model_path),
        args=sft_args(cfg, work_dir),
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        peft_config=LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                               target_modules=cfg.target_modules, task_type="CAUSAL_LM"),
    )
    started = time.perf_counter()
    result = trainer.train()
    seconds = time.perf_counter() - started
    if trainer.state.global_step % cfg.save_steps:
        trainer.save_model(str(work_dir / f"checkpoint-{trainer.state.global_step}"))
    summary = {"train_examples": len(rows), "truncated_examples": overlong, "train_seconds": round(seconds, 1),
               "final_train_loss": result.training_loss, "global_step": trainer.state.global_step}
    tracking.log_metrics({k: v for k, v in summary.items() if k != "global_step"})
    return collect_checkpoints(work_dir, out_dir, tokenizer, cfg, task, summary, trainer.state.log_history)


def collect_checkpoints(work_dir: Path, out_dir: Path, tokenizer, cfg: TrainConfig, task: str,
                        summary: dict, log_history: list[dict]) -> CheckpointSet:
    """Keep the adapters (not optimizer state) of every checkpoint, plus what is needed to use them."""
    for checkpoint in sorted(work_dir.glob("checkpoint-*")):
        step_dir = out_dir / f"step-{checkpoint.name.split('-')[1]}"
        step_dir.mkdir(exist_ok=True)
        for name in ADAPTER_FILES:
            shutil.copy2(checkpoint / name, step_dir / name)
    shutil.rmtree(work_dir)
    tokenizer.padding_side = "left"
    tokenizer.save_pretrained(out_dir / "tokenizer")
    manifest = {"base_model": cfg.model, "task": task, "prompt_template": PROMPT_TEMPLATE,
                "train_config": cfg.model_dump(), "summary": summary}
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2))
    (out_dir / "log_history.json").write_text(json.dumps(log_history, indent=2))
    return CheckpointSet(str(out_dir))
