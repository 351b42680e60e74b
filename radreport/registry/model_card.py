"""The model card of a registered version, in Markdown: what the model is, what it was trained on, how it was
measured beside the baselines it was gated against, the decision, and what it must not be used for.

Built from what the registry and the version's MLflow run hold (tags, params, metrics), so it can be rebuilt
whenever the alias moves or ratings arrive; stored as the version's description (the MLflow UI renders it) and,
when the version is logged, as the model's README.md.
"""

import logging

from radreport.registry.tags import (BASE_MODEL, DATA_FINGERPRINT, STEP, TASK, baselines_of, decision_of, human_eval_of,
                                     metrics_of)

log = logging.getLogger(__name__)

LICENCES = {"gemma": "Gemma Terms of Use (https://ai.google.dev/gemma/terms)",
            "llama": "Meta Llama 3 Community License (https://llama.meta.com/llama3/license/)",
            "llava": "the base LLaVA model's licence and that of its language model (Mistral: Apache 2.0)",
            "mistral": "Apache 2.0"}
CARD_METRICS = ("rougeL", "bleu4", "meteor", "bertscore_f1", "clinical_f1_micro", "abnormal_recall",
                "distinct_outputs", "top_output_share")
INTENDED_USE = ("Assist a radiologist drafting a report: a suggestion to be read, corrected and signed by a "
                "radiologist. Not for clinical decisions without that review, not for triage, not for patients.")
LIMITATIONS = ("Chest X-ray reports in English only (IU X-Ray / MIMIC-style text); other modalities, languages and "
               "report styles are out of scope. Scores are automatic metrics on held-out reports of the same "
               "source, not clinical validation; n-gram metrics reward fluent copying, and the collapse measures "
               "(distinct outputs, most common output's share) show how much it repeats itself. A de-identified "
               "source (XXXX placeholders) teaches the model to write placeholders.")


def licence(base_model: str) -> str:
    return next((text for key, text in LICENCES.items() if key in base_model.lower()),
                "see the base model's own licence")


def row(cells) -> str:
    return "| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in cells) + " |"


def cell(metric: str, value) -> str:
    return f"{float(value):.0f}" if metric == "distinct_outputs" else f"{float(value):.4f}"


def scores_table(tags: dict) -> list[str]:
    systems = {"this version": metrics_of(tags), **baselines_of(tags)}
    metrics = [m for m in CARD_METRICS if any(m in s for s in systems.values())]
    lines = [row(["system", *metrics]), row(["---"] * (len(metrics) + 1))]
    for system, scores in systems.items():
        lines.append(row([system, *(cell(m, scores[m]) if m in scores else "-" for m in metrics)]))
    return lines


def model_card(name: str, version: int | str, tags: dict, run_params: dict, run_metrics: dict,
               run_tags: dict) -> str:
    base = tags.get(BASE_MODEL, "?")
    decided, human = decision_of(tags), human_eval_of(tags)
    counts = {k.removeprefix("ingest_"): int(v) for k, v in run_metrics.items()
              if k.startswith("ingest_") and k.removeprefix("ingest_") in ("read", "accepted", "quarantined",
                                                                            "split_train", "split_validation", "split_test")}
    recipe = {k.removeprefix("train."): v for k, v in run_params.items()
              if k.removeprefix("train.") in ("backend", "lora_r", "lora_alpha", "learning_rate", "weight_decay",
                                              "max_steps", "epochs", "batch_size", "retrieval", "abnormal_weight")}
    lines = [f"# {name} v{version}", "",
             f"A LoRA adapter on **{base}** for `{tags.get(TASK, '?')}` (step {tags.get(STEP, '?')}), "
             "trained and gated by radreport.", "",
             "## Intended use", "", INTENDED_USE, "",
             "## Base model", "", f"{base}; licence: {licence(base)}.", "",
             "## Training data", "",
             f"Source `{run_tags.get('data_path', '?')}`, data fingerprint `{tags.get(DATA_FINGERPRINT, '?')}`; "
             + (", ".join(f"{k} {v}" for k, v in counts.items()) or "counts not recorded") + ".", "",
             "## Recipe", "",
             f"Backend {run_tags.get('train_backend', recipe.get('backend', '?'))}"
             + "".join(f", {k} {v}" for k, v in recipe.items() if k != "backend")
             + (f"; training took {float(run_metrics['train_seconds']):.0f} s"
                if "train_seconds" in run_metrics else "") + ".", "",
             "## Evaluation (held-out reports, beside the baselines it was gated against)", "",
             *scores_table(tags), "",
             "## Decision", "",
             f"`{decided.get('decision', 'not yet decided')}`: {decided.get('reason', '-')} "
             f"({decided.get('by', '-')}, {decided.get('time', '-')}).", ""]
    if "mean_model_rating" in human:
        lines += ["## Human evaluation", "",
                  f"{human.get('ratings')} ratings by {human.get('raters')} radiologists: mean "
                  f"rating {human['mean_model_rating']} (radiologists' own reports "
                  f"{human.get('mean_radiologist_rating')}), model preferred in "
                  f"{human.get('model_preference_rate')} of cases.", ""]
    lines += ["## Limitations", "", LIMITATIONS, ""]
    return "\n".join(lines)


def refresh_card(client, name: str, version: int) -> str:
    """Rebuild the version's card from the registry and its run, and store it as the version's description."""
    info = client.get_model_version(name, str(version))
    run = client.get_run(info.run_id) if info.run_id else None
    card = model_card(name, version, dict(info.tags), dict(run.data.params) if run else {},
                      dict(run.data.metrics) if run else {}, dict(run.data.tags) if run else {})
    client.update_model_version(name, str(version), description=card)
    return card


def refresh_card_quietly(client, name: str, version: int) -> None:
    """The version's card rebuilt with its decision or ratings; a card that cannot be built never undoes either."""
    try:
        refresh_card(client, name, version)
    except Exception as error:  # noqa: BLE001
        log.warning("model card of %s v%s not refreshed: %s", name, version, error)
