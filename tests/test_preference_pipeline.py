"""`run.py prefer` on a real local ZenML stack and MLflow registry, with the tiny model: the champion, tuned on
the judge's pairs and on radiologists' ratings of its own packet, evaluated beside the same baselines and put
through the same gate; lineage on the registered version."""

import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient

from run import main

NAME = "radreport-prefer-test"


def registry():
    from ops.stack import tracking_uri

    return MlflowClient(tracking_uri=tracking_uri(), registry_uri=tracking_uri())


@pytest.fixture(scope="module")
def config(stack, tmp_path_factory, tiny_model, sample_path):
    """An SFT champion (its rater packet drawn from the train split), and raters' answers to that packet."""
    folder = tmp_path_factory.mktemp("prefer")
    body = {"train": {"model": str(tiny_model), "max_steps": 2, "save_steps": 2, "logging_steps": 1, "batch_size": 4},
            "eval": {"max_examples": 6, "max_new_tokens": 6},
            "human_eval": {"cases": 3, "split": "train"},
            "promotion": {"model_name": NAME, "floors": {"rougeL": 0.0}, "beat_baselines": []}}
    sft = folder / "sft.yaml"
    sft.write_text(yaml.safe_dump(body))
    main(["run", "--config", str(sft), "--data", str(sample_path)])
    from zenml.client import Client

    sheet = Client().get_pipeline("radreport_training").last_run.steps["export_human_eval"].outputs["rater_sheet"][0].load()
    ratings = folder / "ratings.csv"
    pd.DataFrame({"rater_id": "r1", "case_id": sheet["case_id"], "rating_A": 5, "rating_B": 1, "preferred": "A",
                  "comment": ""}).to_csv(ratings, index=False)
    body["preference"] = {"source": "both", "ratings": [str(ratings)], "studies": 6, "k": 2, "margin": 0.0,
                          "max_new_tokens": 6, "batch_size": 2, "max_steps": 4, "save_steps": 1,
                          "learning_rate": 1e-3}
    body["promotion"]["floors"] = {"rougeL": 2.0}  # out of reach: the champion stays v1 for every test here
    prefer = folder / "prefer.yaml"
    prefer.write_text(yaml.safe_dump(body))
    return str(prefer)


def test_prefer_tunes_the_champion_and_registers_it_with_its_lineage_through_the_gate(config, sample_path):
    summary = main(["prefer", "--config", config, "--data", str(sample_path)])
    from zenml.client import Client

    run = Client().get_pipeline("radreport_preference").last_run
    assert set(run.steps) == {"ingest_reports", "structure_findings", "format_alpaca", "load_champion",
                              "sample_candidates", "collect_preferences", "train_preference", "evaluate_checkpoints",
                              "promote_model"}
    counts = run.steps["collect_preferences"].outputs["preference_counts"][0].load()
    assert counts["judge_studies"] == 6 and counts["judge_texts"] == 12
    assert counts["ratings_ratings"] == 3 and counts["ratings_dpo_pairs"] <= 3
    assert counts["pairs"] == counts["judge_pairs"] + counts["ratings_dpo_pairs"] > 0
    decision = summary.decision
    assert int(decision["version"]) == 2 and decision["alias"] == "challenger"
    assert decision["reason"].startswith("floor rougeL")
    tags = registry().get_model_version(NAME, "2").tags
    assert tags["preference.started_from_version"] == "1" and tags["preference.source"] == "both"
    assert tags["preference.pairs"] == str(counts["pairs"]) and tags["preference.pairs_sha256"] == counts["pairs_sha256"]
    assert tags["gate.decision"] == decision["alias"] and set(summary.scores.index) >= {"constant", "nearest_neighbour",
                                                                                         "copy_input", "base"}


def test_a_change_to_the_reward_or_the_training_reuses_the_sampled_texts(config, sample_path, tmp_path):
    from zenml.client import Client
    from zenml.enums import ExecutionStatus

    body = yaml.safe_load(open(config))
    body["preference"].update(beta=0.5, length_weight=0.0)
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(body))
    main(["prefer", "--config", str(changed), "--data", str(sample_path)])
    steps = Client().get_pipeline("radreport_preference").last_run.steps
    assert {name for name, s in steps.items() if s.status == ExecutionStatus.CACHED} == {
        "ingest_reports", "structure_findings", "format_alpaca", "load_champion", "sample_candidates"}


@pytest.mark.parametrize("loses_on", ["rougeL", "clinical_f1_micro"])
def test_the_gate_refuses_a_preference_tuned_version_that_loses_to_the_champion(config, loses_on):
    """The same promote step and gate as SFT: a tuned checkpoint scored below the champion on one named metric (its
    scores set so, the rest of its evaluation as measured) stays a challenger, and the reason names the metric."""
    from zenml.client import Client

    from radreport.config import PromotionConfig
    from radreport.evaluation.systems import system_of_step
    from radreport.registry.history import real_champion
    from radreport.registry.tags import metrics_of
    from steps.promote_model import promote_model

    run = Client().get_pipeline("radreport_preference").last_run
    checkpoints = run.steps["train_preference"].outputs["checkpoints"][0].load()
    evaluation = run.steps["evaluate_checkpoints"].outputs["evaluation"][0].load()
    client = registry()
    champion = metrics_of(client.get_model_version(NAME, str(real_champion(client, NAME))).tags)
    registered = {int(v.tags["step"]) for v in client.search_model_versions(f"name='{NAME}'")
                  if "preference.started_from_version" in v.tags}
    step = [s for s in checkpoints.steps if s not in registered][0]  # an adapter not registered yet
    evaluation.best_step = step
    row = system_of_step(step)
    for metric in ("rougeL", "clinical_f1_micro"):
        evaluation.scores.loc[row, metric] = champion[metric] + (-0.01 if metric == loses_on else 0.05)
    policy = PromotionConfig(model_name=NAME, floors={}, margins={"rougeL": 0.0, "clinical_f1_micro": 0.0},
                             beat_baselines=[])
    decision = promote_model.entrypoint(checkpoints, evaluation, "fp", policy, NAME, {})
    assert decision["alias"] == "challenger" and decision["reason"].startswith(f"margin {loses_on}=")
    assert client.get_model_version(NAME, decision["version"]).tags["preference.started_from_version"] == "1"
