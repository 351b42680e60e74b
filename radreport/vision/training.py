"""QLoRA fine-tuning of a LLaVA-style model to write region-structured reports from chest X-rays, and generation.

Backends as for text (`radreport/training/backends.py`): hf-qlora (bitsandbytes NF4 + prepare_model_for_kbit_training),
unsloth (FastVisionModel, language layers only), cpu-lora (fp32, for tests). LoRA goes on the language model's
linear layers only; the vision tower and projector stay frozen. The schedule, resuming and the checkpoints kept are
text training's (`radreport/training/runs.py`): every checkpoint's adapter is kept for evaluation to choose from.
"""

import logging
import time
from pathlib import Path

import pandas as pd

from radreport import tracking
from radreport.config import VisionTrainConfig
from radreport.modality import IMAGE_TASK
from radreport.training.backends import import_unsloth_first, select_backend
from radreport.training.checkpoints import CheckpointSet, collect_checkpoints, train_manifest
from radreport.training.models import load_for_inference, qlora_loading, resolve_model, trainer_precision
from radreport.training.runs import (checkpoint_step, optimizer_steps, resume_point, retention, run_dir,
                                     save_last_step, stop_on_non_finite)
from radreport.vision.format import VisionCollator, conversation, load_images
from radreport.vision.images import image_paths

log = logging.getLogger(__name__)
# Modules the 4-bit load leaves in bf16. transformers matches each pattern as a regex from the start of the full
# module name (or as a suffix), and LLaVA-Next's modules are `model.vision_tower.…`: a bare "vision_tower" would
# quantize the whole vision tower and projector.
KEEP_FULL_PRECISION = [r"(?:model\.)?vision_tower", r"(?:model\.)?multi_modal_projector", "lm_head"]


def load_for_training(backend: str, cfg: VisionTrainConfig):
    """(model with LoRA adapters, processor)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText, AutoProcessor

    if backend == "unsloth":
        import_unsloth_first(backend)  # a no-op when run.py did it; warns when trl came first
        from unsloth import FastVisionModel  # imported here only: it patches transformers

        model, processor = FastVisionModel.from_pretrained(cfg.model, load_in_4bit=True)
        model = FastVisionModel.get_peft_model(model, finetune_vision_layers=False, finetune_language_layers=True,
                                               finetune_attention_modules=True, finetune_mlp_modules=True,
                                               r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                                               random_state=cfg.seed)
        return model, processor
    processor = AutoProcessor.from_pretrained(cfg.model)
    if backend == "hf-qlora":
        from peft import prepare_model_for_kbit_training

        model = AutoModelForImageTextToText.from_pretrained(cfg.model, **qlora_loading(KEEP_FULL_PRECISION))
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=True)
    else:
        model = AutoModelForImageTextToText.from_pretrained(cfg.model, dtype=torch.float32)
    lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=cfg.target_modules, task_type="CAUSAL_LM")
    return get_peft_model(model, lora), processor


def parameter_count(parameter) -> int:
    """Elements a parameter stands for: a packed 4-bit weight holds two per byte, its quant_state the real shape."""
    shape = getattr(getattr(parameter, "quant_state", None), "shape", None)
    return shape.numel() if shape is not None else parameter.numel()


def trainable_share(model) -> float:
    trainable = sum(parameter_count(p) for p in model.parameters() if p.requires_grad)
    return trainable / sum(parameter_count(p) for p in model.parameters())


def training_args(cfg: VisionTrainConfig, work_dir: Path, backend: str, max_steps: int):
    """Validation loss and a checkpoint every save_steps, as text training saves them; the trainer tracks the
    lowest validation loss (`state.best_global_step`), which pruning keeps beside the last K."""
    import torch
    from transformers import TrainingArguments

    on_gpu = backend != "cpu-lora" and torch.cuda.is_available()  # hf-qlora runs on a CPU for smoke runs
    return TrainingArguments(
        output_dir=str(work_dir), max_steps=max_steps, per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size, gradient_accumulation_steps=cfg.grad_accum,
        learning_rate=cfg.learning_rate, weight_decay=cfg.weight_decay, optim="adamw_torch",
        lr_scheduler_type=cfg.lr_scheduler, warmup_steps=cfg.warmup_steps, logging_steps=cfg.logging_steps,
        eval_strategy="steps", eval_steps=cfg.save_steps, save_strategy="steps", save_steps=cfg.save_steps,
        metric_for_best_model="eval_loss", greater_is_better=False, remove_unused_columns=False, seed=cfg.seed,
        **trainer_precision(on_gpu), gradient_checkpointing_kwargs={"use_reentrant": False},
        report_to=["mlflow"] if tracking.active() else [], dataloader_num_workers=0)


def train_vision_lora(records: pd.DataFrame, cfg: VisionTrainConfig, out_dir: Path, callbacks=()) -> CheckpointSet:
    """Train on the train split, resuming an interrupted run with the same studies and config; every saved
    checkpoint's adapter is laid out as a CheckpointSet (the processor in place of the tokenizer), so evaluation,
    registry, promotion and export treat it as they treat a text run's."""
    from transformers import Trainer

    train = records[records["split"] == "train"].to_dict("records")
    validation = records[records["split"] == "validation"].to_dict("records")
    if not train or not validation:
        raise ValueError(f"need studies with images in both train and validation splits "
                         f"(have {len(train)} and {len(validation)})")
    resolve_model(cfg.model)  # a missing model folder fails here, in one line
    backend, why = select_backend(cfg.backend)  # as does a backend that cannot run here, before any model loads
    log.info("vision training backend %s (%s)", backend, why)
    tracking.set_tags({"train_backend": backend, "train_backend_reason": why, "modality": "image"})
    model, processor = load_for_training(backend, cfg)
    share = trainable_share(model)
    work_dir = run_dir(train, cfg, IMAGE_TASK)
    args = training_args(cfg, work_dir, backend, optimizer_steps(cfg, len(train)))
    resume_from = resume_point(work_dir, cfg.resume)
    trainer = Trainer(model=model, args=args, train_dataset=train, eval_dataset=validation,
                      data_collator=VisionCollator(processor),
                      callbacks=[stop_on_non_finite(), retention(cfg.keep_last_checkpoints), *callbacks])
    started = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    save_last_step(trainer, work_dir, cfg, evaluate=True)
    summary = {"backend": backend, "train_studies": len(train), "validation_studies": len(validation),
               "trainable_share": share, "global_step": trainer.state.global_step,
               "resumed_from_step": checkpoint_step(resume_from) if resume_from else 0,
               "best_eval_loss_step": trainer.state.best_global_step, "best_eval_loss": trainer.state.best_metric,
               "final_train_loss": result.training_loss, "train_seconds": round(time.perf_counter() - started, 1)}
    tracking.log_metrics({k: v for k, v in summary.items() if isinstance(v, (int, float))}, prefix="vision_")
    manifest = train_manifest(cfg, IMAGE_TASK, summary, takes_images=True, prompt_template=cfg.prompt,
                              max_images=max(len(image_paths(r["images"])) for r in train))
    return collect_checkpoints(work_dir, out_dir, processor, manifest, trainer.state.log_history)


def load_vision_adapter(checkpoints: CheckpointSet, step: int | None):
    """(base model with checkpoint `step`'s adapter, or the untuned base for None, and the processor), on CPU in
    fp32 or on the GPU in bf16."""
    from peft import PeftModel
    from transformers import AutoModelForImageTextToText, AutoProcessor

    model = load_for_inference(AutoModelForImageTextToText, checkpoints.manifest["base_model"])
    if step is not None:
        model = PeftModel.from_pretrained(model, checkpoints.adapter(step))
    return model.eval(), AutoProcessor.from_pretrained(checkpoints.tokenizer)


def generate_reports(model, processor, records: list[dict], max_new_tokens: int, batch_size: int = 4,
                     desc: str = "generating") -> list[str]:
    """Greedy reports for records (images + prompt), batched with left padding."""
    import torch
    from tqdm.auto import tqdm

    processor.tokenizer.padding_side = "left"
    reports = []
    for start in tqdm(range(0, len(records), batch_size), desc=desc, leave=False):
        batch = records[start:start + batch_size]
        texts = [processor.apply_chat_template(conversation(len(image_paths(r["images"])), r["prompt"]), tokenize=False,
                                               add_generation_prompt=True) for r in batch]
        inputs = processor(text=texts, images=[load_images(r["images"]) for r in batch], padding=True,
                           return_tensors="pt").to(model.device)
        with torch.no_grad():
            output = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False,
                                    pad_token_id=processor.tokenizer.pad_token_id)
        new_tokens = output[:, inputs["input_ids"].shape[1]:]
        reports += [t.strip() for t in processor.batch_decode(new_tokens, skip_special_tokens=True)]
    return reports
