"""Preference tuning's parts on the tiny model: the sampler, the judge's reward, preferences from ratings, and a
DPO/KTO run that moves the policy toward the chosen texts."""

import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from radreport.config import DataConfig, PreferenceConfig, TrainConfig
from radreport.preference.ratings import UnknownCases, preferences_from_ratings
from radreport.preference.reward import rewards
from radreport.training.checkpoints import CheckpointSet

INSTRUCTION = "Write the impression."


@pytest.fixture(scope="module")
def records(sample_path):
    from radreport.recipe import instruction_records
    from radreport.config import PipelineConfig

    return instruction_records(PipelineConfig(data=DataConfig(path=str(sample_path))))


@pytest.fixture(scope="module")
def champion(records, tiny_model, tmp_path_factory) -> CheckpointSet:
    """A one-checkpoint set, as `load_champion` makes from the registry."""
    from radreport.training.lora import train_lora

    trained = train_lora(records, TrainConfig(model=str(tiny_model), max_steps=2, save_steps=2, logging_steps=1),
                         "findings_to_impression", tmp_path_factory.mktemp("sft") / "checkpoints")
    assert trained.steps == [2]
    return trained


def test_sampling_encodes_each_prompt_once_and_is_greedy_decoding_at_temperature_zero(tiny_model):
    from transformers import AutoModelForCausalLM

    from radreport.inference.generation import generate
    from radreport.preference.sampling import sample
    from radreport.training.models import load_tokenizer

    model, tokenizer = AutoModelForCausalLM.from_pretrained(tiny_model), load_tokenizer(tiny_model)
    prompts = ["The heart is normal.", "Lungs are clear bilaterally with no focal consolidation.", "No acute", "Mild"]
    greedy = generate(model, tokenizer, prompts, batch_size=4, max_new_tokens=10)
    assert sample(model, tokenizer, prompts, k=3, max_new_tokens=10, temperature=0, batch_size=4) == \
        [[text] * 3 for text in greedy]  # left padding, the repeated cache and dropped rows change nothing
    drawn = sample(model, tokenizer, prompts, k=4, max_new_tokens=10, temperature=1.0, batch_size=2, seed=3)
    assert drawn == sample(model, tokenizer, prompts, k=4, max_new_tokens=10, temperature=1.0, batch_size=2, seed=3)
    assert any(len(set(texts)) > 1 for texts in drawn)  # sampled, not k copies


def test_the_reward_puts_findings_first_and_length_against_padding():
    cfg = PreferenceConfig()
    reference = "Right lower lobe pneumonia."
    table = rewards([reference] * 3, ["Right lower lobe pneumonia.", "No acute cardiopulmonary abnormality.",
                                      "Right lower lobe pneumonia. " + "Heart size is normal. " * 6], cfg)
    right, missed, padded = table["reward"]
    assert table["missed_abnormal"].tolist() == [0.0, 1.0, 0.0]
    assert right > padded > missed and table.loc[2, "length_gap"] > 1.5


def packet(records: pd.DataFrame):
    """A rated packet: three training studies and one test study, model text A or B."""
    train = records[records["split"] == "train"].head(3)
    test = records[records["split"] == "test"].head(1)
    cases = pd.concat([train, test])
    sheet = pd.DataFrame({"case_id": ["c1", "c2", "c3", "c4"], "findings": cases["input"].values,
                          "impression_A": ["Model one.", *cases["output"].values[1:]],
                          "impression_B": [cases["output"].values[0], "Model two.", "Model three.", "Model four."]})
    key = pd.DataFrame({"case_id": ["c1", "c2", "c3", "c4"], "report_id": cases["report_id"].values,
                        "A": ["model", "radiologist", "radiologist", "radiologist"],
                        "B": ["radiologist", "model", "model", "model"]})
    return sheet, key


def ratings_file(path: Path, rows: list[list]) -> Path:
    pd.DataFrame(rows, columns=["rater_id", "case_id", "rating_A", "rating_B", "preferred", "comment"]).to_csv(
        path, index=False)
    return path


def test_a_ratings_file_becomes_kto_texts_and_dpo_pairs_and_held_out_cases_never_train(records, tmp_path):
    from radreport.human_eval.ratings import read_ratings

    sheet, key = packet(records)
    path = ratings_file(tmp_path / "ratings.csv", [["r1", "c1", 2, 5, "B", ""], ["r1", "c2", 4, 3, "A", ""],
                                                     ["r2", "c3", 3, 3, "B", ""], ["r1", "c4", 5, 1, "A", ""]])
    checkpoints = CheckpointSet(str(tmp_path))
    (tmp_path / "manifest.json").write_text(json.dumps({"instruction": INSTRUCTION}))
    kto, pairs, counts = preferences_from_ratings(read_ratings([str(path)]), sheet, key, records, checkpoints,
                                                  PreferenceConfig(source="ratings", ratings=[str(path)]))
    assert counts == {"ratings": 4, "rated_cases_outside_train": 1, "kto_desirable": 2, "kto_undesirable": 1,
                      "dpo_pairs": 3}
    assert kto[["completion", "label"]].values.tolist() == [["Model one.", False], [sheet.at[0, "impression_B"], True],
                                                            [sheet.at[1, "impression_A"], True]]
    assert pairs[["chosen", "rejected"]].values.tolist() == [[sheet.at[0, "impression_B"], "Model one."],
                                                              [sheet.at[1, "impression_A"], "Model two."],
                                                              ["Model three.", sheet.at[2, "impression_A"]]]
    assert set(pairs["source"]) == {"ratings"} and "Model four." not in set(kto["completion"])  # c4 is a test study
    first = kto["prompt"].iat[0]
    assert first.startswith("Below is") and first.endswith("### Response:\n") and sheet.at[0, "findings"] in first


def test_a_ratings_file_naming_unknown_cases_is_refused_in_one_line(records, tmp_path):
    from radreport.human_eval.ratings import read_ratings

    sheet, key = packet(records)
    path = ratings_file(tmp_path / "ratings.csv", [["r1", "c1", 2, 5, "B", ""], ["r1", "zz9", 4, 3, "A", ""],
                                                     ["r2", "yy8", 3, 3, "B", ""]])
    with pytest.raises(UnknownCases) as refused:
        preferences_from_ratings(read_ratings([str(path)]), sheet, key, records, CheckpointSet(str(tmp_path)),
                                 PreferenceConfig(source="ratings", ratings=[str(path)]))
    assert str(refused.value) == f"{path}: case(s) not in the rated packet: yy8, zz9"


def completion_logprob(model, tokenizer, prompt: str, completion: str) -> float:
    """log p(completion + EOS | prompt), as the trainers score it."""
    ids = tokenizer(prompt + completion + tokenizer.eos_token, return_tensors="pt")["input_ids"]
    start = len(tokenizer(prompt)["input_ids"])
    with torch.no_grad():
        logprobs = model(input_ids=ids).logits[0, :-1].log_softmax(-1)
    targets = ids[0, 1:]
    return float(logprobs[start - 1:].gather(-1, targets[start - 1:, None]).sum())


def margins(checkpoints: CheckpointSet, step: int, pairs: pd.DataFrame) -> list[float]:
    from radreport.inference.adapters import inference_model
    from radreport.training.models import load_tokenizer

    model, tokenizer = inference_model(checkpoints, step), load_tokenizer(checkpoints.tokenizer)
    return [completion_logprob(model, tokenizer, p, c) - completion_logprob(model, tokenizer, p, r)
            for p, c, r in pairs[["prompt", "chosen", "rejected"]].itertuples(index=False)]


@pytest.mark.parametrize("method", ["dpo", "kto"])
def test_preference_training_moves_the_policy_toward_the_chosen_texts(records, champion, tmp_path, method):
    from radreport.preference.judge import study_prompts
    from radreport.preference.train import train_preference

    studies = records[records["split"] == "train"].drop_duplicates("report_id").head(8)
    pairs = pd.DataFrame({"report_id": studies["report_id"].values, "prompt": study_prompts(champion, studies),
                          "chosen": studies["output"].values, "rejected": "Large left pleural effusion.",
                          "chosen_reward": 1.0, "rejected_reward": 0.0, "source": "judge"})
    cfg = PreferenceConfig(method=method, learning_rate=5e-3, batch_size=4, max_steps=6, save_steps=3, beta=0.1)
    tuned = train_preference(champion, pairs, pd.DataFrame(columns=["prompt", "completion", "label"]), cfg,
                             TrainConfig(model=champion.manifest["base_model"], logging_steps=1),
                             tmp_path / "checkpoints", {"started_from_version": 1})
    assert tuned.steps == [3, 6] and tuned.manifest["preference"]["started_from_version"] == 1
    assert tuned.manifest["summary"]["method"] == method and tuned.manifest["base_model"] == champion.manifest["base_model"]
    before, after = margins(champion, 2, pairs), margins(tuned, 6, pairs)
    assert sum(after) / len(after) > sum(before) / len(before) + 1.0  # log p(chosen) - log p(rejected), per pair
