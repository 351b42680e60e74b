"""Every corpus metric an evaluation can report: the metric suite's (overlap, BERTScore, clinical, GREEN) and the
evaluation's collapse figures. Config fields that name a metric are checked against this list."""

CLINICAL_METRICS = ("clinical_f1_micro", "clinical_f1_macro", "clinical_f1_micro_5", "abnormal_recall",
                    "normal_agreement")
METRIC_NAMES = ("bleu1", "bleu2", "bleu3", "bleu4", "rouge1", "rouge2", "rougeL", "meteor",
                "bertscore_p", "bertscore_r", "bertscore_f1", "clinical_f1_micro", "clinical_f1_macro",
                "clinical_f1_micro_5", "abnormal_recall", "normal_agreement", "green", "distinct_outputs",
                "top_output_share")
