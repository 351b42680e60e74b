"""The project's fixed words: the names config checks values against (instruction tasks, metrics, metric groups,
imaging modalities) and the shipped texts it defaults to (task instructions, the structuring prompt).

It imports nothing from radreport, so config, the command line and the stages can all read it without loading what
the names stand for (the labeler, the metric libraries, the structuring schemes).
"""

# Instruction tasks a model can learn, each with its instruction as written for chest X-rays (formatting.instruction
# rewrites it for another modality's name and regions).
INSTRUCTIONS = {
    "findings_to_impression": "Summarize the chest X-ray findings into a concise radiology impression.",
    "impression_to_findings": "Write the findings section of a chest X-ray report consistent with this impression.",
    "findings_to_structured": "Reorganize the chest X-ray findings by anatomical region: Lung, Heart, Mediastinal, Bone, Others.",
    # The structuring endpoint's own answer (structuring.llm's schema): a model that serves `structure_findings`.
    "findings_to_region_json": "Copy each sentence of the chest X-ray findings into its anatomical region. Answer "
                               "with JSON: lung, heart, mediastinal, bone, others.",
}
TASKS = tuple(INSTRUCTIONS)

# Metric groups the suite computes (GREEN joins them when a judge is configured); the first four are the reference
# libraries' own, clinical is the observation labeler's.
LIBRARY_GROUPS = ("bleu", "rouge", "meteor", "bertscore")
METRIC_GROUPS = (*LIBRARY_GROUPS, "clinical")

# Every corpus metric an evaluation can report: the suite's and the evaluation's collapse figures. Config fields
# that name a metric are checked against this list.
CLINICAL_METRICS = ("clinical_f1_micro", "clinical_f1_macro", "clinical_f1_micro_5", "abnormal_recall",
                    "normal_agreement")
METRIC_NAMES = ("bleu1", "bleu2", "bleu3", "bleu4", "rouge1", "rouge2", "rougeL", "meteor",
                "bertscore_p", "bertscore_r", "bertscore_f1", *CLINICAL_METRICS, "green", "distinct_outputs",
                "top_output_share")

# Imaging modalities a report can come from: the names the schema stores and how prompts speak of them.
PROMPT_NAMES = {"chest_xray": "chest X-ray", "ct": "CT", "mri": "MRI", "ultrasound": "ultrasound"}
ALIASES = {"cxr": "chest_xray", "cr": "chest_xray", "dx": "chest_xray", "xr": "chest_xray", "xray": "chest_xray",
           "x-ray": "chest_xray", "chest x-ray": "chest_xray", "chest-xray": "chest_xray", "radiograph": "chest_xray",
           "mr": "mri", "ct scan": "ct", "us": "ultrasound"}


def modality_name(value: str) -> str | None:
    """The schema's name for a modality value (`CXR`, `MR`, `CT`, `chest_xray`, ...), None for an unknown one."""
    key = " ".join(str(value).lower().replace("_", " ").split())
    name = ALIASES.get(key, key.replace(" ", "_"))
    return name if name in PROMPT_NAMES else None


# The structuring LLM's system prompt as shipped (its version is `structuring.prompt_version`).
SEED_PROMPT = (
    "You are an expert at structured data extraction and medicine. You will be given the unstructured findings of a "
    "chest X-ray report and should separate its sentences into four anatomical regions: lung, heart, mediastinal and "
    "bone. Put every sentence that fits none of them in others. Copy each sentence verbatim into exactly one region; "
    "do not rephrase, merge, drop or add sentences. Answer with JSON only.")
