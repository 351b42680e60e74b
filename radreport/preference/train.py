"""DPO or KTO on the champion's adapter, with the champion itself as the reference model.

The champion's adapter is loaded trainable on its base model; trl copies it into a frozen `ref` adapter, so the
reference log-probabilities are the champion's (not the untuned base's) and only one base model is in memory.
trl's trainers compute the LM head only at the completion's positions (their fused head): on Gemma's 262k-word
head over retrieval prompts of ~300 tokens that is most of the work saved, as `compact_lm_head` does for SFT. The
frozen base multiplies in bf16 where the CPU computes it natively (`train.cpu_bf16_base`). On a GPU the base loads
in 4 bits as the hf-qlora backend does (Unsloth's own trainer patches are not used here).

The result is a checkpoint set like SFT's (same base, tokenizer, prompt format and retrieval index as the
champion), so evaluation, the gate, registration and serving take it unchanged; its manifest says which version
it started from and which preferences it learned from.
"""

import logging
import shutil
import time
from pathlib import Path

import pandas as pd

from radreport import tracking
from radreport.config import PreferenceConfig, TrainConfig
from radreport.training.checkpoints import CheckpointSet, collect_checkpoints
from radreport.training.runs import stop_on_non_finite
from radreport.training.retrieval import FILE as RETRIEVAL_FILE

log = logging.getLogger(__name__)


def load_policy(champion: CheckpointSet, step: int, train_cfg: TrainConfig):
    """(model with the champion's adapter trainable, tokenizer)."""
    import torch
    from peft import PeftModel

    from radreport.training.cpu_speed import bf16_linears, uses_bf16_linears
    from radreport.training.models import load_model, load_tokenizer, qlora_loading, resolve_model

    base = resolve_model(champion.manifest["base_model"])
    if torch.cuda.is_available():
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(base, **qlora_loading())
    else:
        model = load_model(base)
        if uses_bf16_linears(train_cfg.cpu_bf16_base):
            bf16_linears(model)
    tokenizer = load_tokenizer(champion.tokenizer)
    return PeftModel.from_pretrained(model, champion.adapter(step), is_trainable=True), tokenizer


def trainer_for(method: str, model, tokenizer, rows: pd.DataFrame, cfg: PreferenceConfig, train_cfg: TrainConfig,
                work_dir: Path):
    import torch
    from datasets import Dataset

    from radreport.training.models import trainer_precision

    common = dict(output_dir=str(work_dir), beta=cfg.beta, learning_rate=cfg.learning_rate,
                  per_device_train_batch_size=cfg.batch_size, gradient_accumulation_steps=cfg.grad_accum,
                  max_steps=cfg.max_steps, save_strategy="steps", save_steps=cfg.save_steps, max_length=cfg.max_length,
                  logging_steps=train_cfg.logging_steps, warmup_steps=0, lr_scheduler_type="linear", seed=cfg.seed,
                  weight_decay=train_cfg.weight_decay, optim="adamw_torch",
                  gradient_checkpointing=train_cfg.gradient_checkpointing, dataloader_num_workers=0,
                  disable_tqdm=False,
                  report_to=["mlflow"] if tracking.active() else [], **trainer_precision(torch.cuda.is_available()))
    callbacks = [stop_on_non_finite()]
    if method == "dpo":
        from trl import DPOConfig, DPOTrainer

        data = Dataset.from_pandas(rows[["prompt", "chosen", "rejected"]], preserve_index=False)
        return DPOTrainer(model=model, args=DPOConfig(**common), train_dataset=data, processing_class=tokenizer,
                          callbacks=callbacks)
    from trl import KTOConfig, KTOTrainer

    data = Dataset.from_pandas(rows[["prompt", "completion", "label"]], preserve_index=False)
    return KTOTrainer(model=model, args=KTOConfig(**common), train_dataset=data, processing_class=tokenizer,
                      callbacks=callbacks)


def kto_rows(pairs: pd.DataFrame, rated: pd.DataFrame) -> pd.DataFrame:
    """KTO examples: each pair's chosen text desirable and rejected one undesirable, beside the rated texts."""
    from_pairs = [pairs.assign(completion=pairs[side], label=side == "chosen")[["prompt", "completion", "label"]]
                  for side in ("chosen", "rejected")]
    return pd.concat([*from_pairs, rated[["prompt", "completion", "label"]]], ignore_index=True)


def train_preference(champion: CheckpointSet, pairs: pd.DataFrame, rated: pd.DataFrame, cfg: PreferenceConfig,
                     train_cfg: TrainConfig, out_dir: Path, lineage: dict) -> CheckpointSet:
    """Preference-tune the champion (its single registered step) on `pairs` (DPO) or on the pairs and `rated`
    texts (KTO); every saved checkpoint is kept in `out_dir`. `lineage`: what it started from and learned from,
    written into the manifest."""
    rows = pairs if cfg.method == "dpo" else kto_rows(pairs, rated)
    if rows.empty:
        raise ValueError(f"no {cfg.method.upper()} examples: the judge's pairs and the ratings gave none "
                         "(lower preference.margin, raise studies or k, or import more ratings)")
    rows = rows.sample(frac=1, random_state=cfg.seed).reset_index(drop=True)
    [step] = champion.steps
    model, tokenizer = load_policy(champion, step, train_cfg)
    work_dir = out_dir.parent / f"{out_dir.name}-trainer"
    shutil.rmtree(work_dir, ignore_errors=True)
    trainer = trainer_for(cfg.method, model, tokenizer, rows, cfg, train_cfg, work_dir)
    started = time.perf_counter()
    result = trainer.train()
    seconds = time.perf_counter() - started
    if trainer.state.global_step % cfg.save_steps:
        trainer.save_model(str(work_dir / f"checkpoint-{trainer.state.global_step}"))
    summary = {"backend": "hf-qlora" if model.device.type == "cuda" else "cpu-lora",
               "method": cfg.method, "train_examples": len(rows), "train_seconds": round(seconds, 1),
               "final_train_loss": result.training_loss, "global_step": trainer.state.global_step}
    tracking.log_metrics({f"preference_{k}": v for k, v in summary.items() if isinstance(v, (int, float))})
    manifest = {**champion.manifest, "summary": summary, "preference": {**lineage, **cfg.model_dump()},
                "champion_step": step}
    checkpoints = collect_checkpoints(work_dir, out_dir, tokenizer, manifest, trainer.state.log_history)
    if (Path(champion.path) / RETRIEVAL_FILE).exists():
        shutil.copy2(Path(champion.path) / RETRIEVAL_FILE, out_dir / RETRIEVAL_FILE)
    return checkpoints
