"""The image -> report pipeline's sections: a config with an `images` section is one of these (see load_config)."""

from typing import Literal, Optional

from pydantic import Field

from radreport.config import (DataConfig, EvalConfig, HumanEvalConfig, LoraTrainConfig, PromotionConfig, Section,
                              StructuringConfig)


class VisionTrainConfig(LoraTrainConfig):
    """Image -> region-structured report: a LLaVA-style model, QLoRA on the language model only."""
    model: str = Field(..., description=(
        "Local LLaVA-style checkpoint folder with its processor, e.g. llava-v1.6-mistral-7b-hf."))
    backend: Literal["auto", "unsloth", "hf-qlora", "cpu-lora"] = Field("auto", description=(
        "As train.backend; unsloth uses its FastVisionModel."))
    prompt: str = Field("Generate an X-ray report for Lung, Heart, Mediastinal, and Bone.", description=(
        "User prompt beside the images."))
    lora_dropout: float = Field(0.05, ge=0, lt=1, description="Dropout on the LoRA path.")
    target_modules: str = Field(
        r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)", description=(
            "Regex of the layers that get adapters: the language model's linear layers; the vision tower and "
            "projector stay frozen."))
    epochs: float = Field(4.0, gt=0, description="Passes over the training studies.")
    max_steps: Optional[int] = Field(None, gt=0, description="Optimizer steps; overrides epochs when set.")
    batch_size: int = Field(1, gt=0, description="Studies per device step.")
    grad_accum: int = Field(8, gt=0, description="Device steps per optimizer step.")
    learning_rate: float = Field(5e-5, gt=0, description="Peak learning rate (AdamW).")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    warmup_ratio: float = Field(0.1, ge=0, lt=1, description="Share of steps warming up.")
    lr_scheduler: str = Field("cosine", description="transformers scheduler name.")
    eval_steps: int = Field(50, gt=0, description=(
        "Validation loss and a checkpoint every N optimizer steps; the lowest validation loss is kept."))
    logging_steps: int = Field(10, gt=0, description="Log train loss every N steps.")


class ImagesConfig(Section):
    path: str = Field(..., description=(
        "Folder of chest X-ray images (IU X-Ray: the PNGs of Open-i or Kaggle), or an image index CSV."))
    index: Optional[str] = Field(None, description=(
        "CSV with one row per image (report_id, file, view; files relative to it). None: IU X-Ray's "
        "indiana_projections.csv beside data.path."))
    columns: dict[str, str] = Field({}, description="report_id/file/view -> column name in the index CSV.")
    max_images: int = Field(2, gt=0, description="Images per study, frontal views first.")


class VisionPipelineConfig(Section):
    """Image -> region-structured report: a config with an `images` section runs the vision pipeline."""
    data: DataConfig = DataConfig()
    images: ImagesConfig
    structuring: StructuringConfig = StructuringConfig()
    train: VisionTrainConfig
    eval: EvalConfig = EvalConfig()
    human_eval: HumanEvalConfig = HumanEvalConfig()
    promotion: PromotionConfig = PromotionConfig()
