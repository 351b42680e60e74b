"""The clinical labeler and finding-level metrics: mention status, agreement with IU X-Ray's MeSH indexing (labels
the labeler never saw), and the constant "normal" answer scoring what it must."""

import json

import pandas as pd
import pytest

from radreport.clinical import NEGATED, POSITIVE, UNCERTAIN, Labeler
from radreport.clinical.mesh import mesh_agreement, mesh_observations
from radreport.config import PromotionConfig
from radreport.metrics import MetricSuite, example_column
from radreport.metrics.clinical import ClinicalMetrics
from radreport.registry.decision import decide

CONSTANT = "No acute cardiopulmonary abnormality."


@pytest.fixture(scope="module")
def labeler():
    return Labeler()


@pytest.mark.parametrize("text, observation, status", [
    ("The heart is enlarged.", "cardiomegaly", POSITIVE),
    ("Mild cardiomegaly is again noted.", "cardiomegaly", POSITIVE),
    ("The heart is not enlarged.", "cardiomegaly", NEGATED),
    ("No pneumothorax or pleural effusion.", "pleural_effusion", NEGATED),
    ("No pneumothorax or pleural effusion.", "pneumothorax", NEGATED),
    ("Pneumothorax is not seen.", "pneumothorax", NEGATED),
    ("Possible left lower lobe pneumonia.", "pneumonia", UNCERTAIN),
    ("Cannot exclude a small right pleural effusion.", "pleural_effusion", UNCERTAIN),
    ("Atelectasis versus scarring at the left base.", "atelectasis", UNCERTAIN),
    ("Calcified granuloma in the right upper lobe.", "granuloma", POSITIVE),
    ("Degenerative changes of the thoracic spine.", "degenerative_spine", POSITIVE),
    ("The lungs are hyperinflated.", "emphysema", POSITIVE),
    ("Tortuous and atherosclerotic aorta.", "atherosclerotic_aorta", POSITIVE),
    ("Low lung volumes with bibasilar atelectasis.", "low_lung_volumes", POSITIVE),
    ("Right-sided PICC line tip in the SVC.", "support_devices", POSITIVE),
    ("Mild dextroscoliosis.", "scoliosis", POSITIVE),
    ("Moderate hiatal hernia.", "hiatal_hernia", POSITIVE),
])
def test_mention_status(labeler, text, observation, status):
    assert labeler.label([text])[0].get(observation) == status, labeler.mentions(text)


def test_longest_match_wins_and_ignored_phrases_block(labeler):
    assert labeler.label(["Calcified nodule in the left lung."])[0].keys() == {"granuloma", "no_finding"}
    assert "pleural_effusion" not in labeler.label(["Small pericardial effusion."])[0]
    assert "emphysema" not in labeler.label(["Subcutaneous emphysema in the neck."])[0]


def test_no_finding_is_derived_and_devices_do_not_make_a_study_abnormal(labeler):
    normal, device, abnormal = labeler.label([CONSTANT, "Sternotomy wires. Lungs are clear.", "Small effusion."])
    assert normal == {"no_finding": POSITIVE}
    assert device["no_finding"] == POSITIVE and device["support_devices"] == POSITIVE
    assert abnormal["no_finding"] == NEGATED


def test_a_negated_mention_does_not_outweigh_a_positive_one(labeler):
    text = "There is no focal consolidation or pleural effusion. There is a small left effusion."
    assert labeler.label([text])[0]["pleural_effusion"] == POSITIVE


def test_mesh_terms_map_to_observations():
    assert mesh_observations("Cardiomegaly/mild;Pulmonary Atelectasis/base/left") == {"cardiomegaly", "atelectasis"}
    assert mesh_observations("Lung/hypoinflation;Lung/hilum") == {"low_lung_volumes"}
    assert mesh_observations("Calcinosis/aorta;Calcinosis/lung") == {"atherosclerotic_aorta", "granuloma"}
    assert mesh_observations("normal") == {"no_finding"}
    assert mesh_observations("Technical Quality of Image Unsatisfactory") == set()


# Measured on all 3,851 IU X-Ray reports (3,759 indexed), uncertain counted as positive; floors sit ~0.03 below.
MESH_FLOORS = {  # observation: (precision, recall)
    "no_finding": (0.83, 0.93), "cardiomegaly": (0.77, 0.95), "lung_opacity": (0.93, 0.83),
    "edema": (0.70, 0.78), "consolidation": (0.74, 0.96), "atelectasis": (0.78, 0.95),
    "pneumothorax": (0.88, 0.81), "pleural_effusion": (0.80, 0.93), "pleural_other": (0.62, 0.71),
    "fracture": (0.62, 0.94), "support_devices": (0.75, 0.79), "granuloma": (0.91, 0.79), "nodule": (0.56, 0.82),
    "degenerative_spine": (0.84, 0.93), "scoliosis": (0.93, 0.82), "hiatal_hernia": (0.88, 0.96),
    "emphysema": (0.88, 0.94), "atherosclerotic_aorta": (0.92, 0.77), "tortuous_aorta": (0.92, 0.87),
    "low_lung_volumes": (0.93, 0.94),
    # Few indexed cases, and the indexers leave out what a report only suspects ("concerning for pneumonia"):
    "enlarged_cardiomediastinum": (0.28, 0.65), "lung_lesion": (0.22, 0.89), "pneumonia": (0.26, 0.95),
}


def test_labeler_agrees_with_mesh_indexing_on_every_iu_report(iu_xray, labeler):
    reports = pd.read_csv(iu_xray / "indiana_reports.csv")
    table, compared = mesh_agreement(reports, labeler)
    assert len(reports) == 3851 and compared == 3759
    below = {name: (round(table.loc[name, "precision"], 3), round(table.loc[name, "recall"], 3))
             for name, (p, r) in MESH_FLOORS.items()
             if table.loc[name, "precision"] < p or table.loc[name, "recall"] < r}
    assert not below, f"below the measured floors: {below}"


def test_constant_normal_answer_scores_zero_clinically_on_the_iu_test_split(iu_xray):
    from radreport.ingest import ingest

    reports = ingest(iu_xray).reports
    test = reports[(reports["split"] == "test") & (reports["findings"] != "") & (reports["impression"] != "")]
    references = test["impression"].tolist()
    assert len(references) > 500
    metrics = ClinicalMetrics()
    constant = metrics.score(references, [CONSTANT] * len(references))
    assert constant["clinical_f1_micro"] == constant["clinical_f1_macro"] == constant["clinical_f1_micro_5"] == 0.0
    assert constant["abnormal_recall"] == 0.0
    assert 0.4 < constant["normal_agreement"] < 0.9  # right exactly on the normal studies
    assert metrics.score(references, references) == pytest.approx(dict.fromkeys(constant, 1.0))


def test_clinical_f1_counts_and_the_uncertain_convention():
    references = ["Mild cardiomegaly. Small left pleural effusion.", CONSTANT, "Possible right lower lobe pneumonia."]
    hypotheses = ["Cardiomegaly without effusion.", "Small left pleural effusion.", "Right lower lobe pneumonia."]
    table = ClinicalMetrics().per_observation(references, hypotheses)
    assert table.loc["cardiomegaly", ["tp", "fp", "fn"]].tolist() == [1, 0, 0]
    assert table.loc["pleural_effusion", ["tp", "fp", "fn"]].tolist() == [0, 1, 1]
    assert table.loc["pneumonia", "tp"] == 1
    assert ClinicalMetrics("negative").per_observation(references, hypotheses).loc["pneumonia", "fp"] == 1
    scores = ClinicalMetrics().score(references, hypotheses)
    assert scores["clinical_f1_micro"] == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))
    assert scores["abnormal_recall"] == 1.0 and scores["normal_agreement"] == pytest.approx(2 / 3)
    assert ClinicalMetrics().per_example(references, hypotheses) == pytest.approx([2 / 3, 0.0, 1.0])


def test_clinical_metrics_in_the_suite_regions_and_score_command(tmp_path, capsys):
    from run import main

    references = ["Heart size is enlarged. Small right pleural effusion.", CONSTANT]
    hypotheses = ["The heart is enlarged. No effusion.", CONSTANT]
    suite = MetricSuite(["rouge", "clinical"])
    corpus, examples = suite.score(references, hypotheses)
    assert corpus["clinical_f1_micro"] == pytest.approx(2 / 3) and "clinical_f1" in examples
    regions = suite.by_region(references, hypotheses)
    assert regions["heart"]["clinical_f1"] == 1.0 and regions["lung"]["clinical_f1"] == 0.0
    (tmp_path / "refs.txt").write_text("\n".join(references))
    (tmp_path / "hyps.txt").write_text("\n".join(hypotheses))
    main(["score", "--refs", str(tmp_path / "refs.txt"), "--hyps", str(tmp_path / "hyps.txt"),
          "--metrics", "bleu", "clinical"])
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["clinical_f1_micro"] == pytest.approx(2 / 3) and printed["abnormal_recall"] == 1.0
    assert any("negspacy" in note for note in printed["notes"])


def test_promotion_rule_on_clinical_f1():
    policy = PromotionConfig(floors={}, margins={"clinical_f1_micro": 0.0}, beat_baselines=[])
    worse = decide({"clinical_f1_micro": 0.30, "rougeL": 0.6}, {"clinical_f1_micro": 0.35, "rougeL": 0.5}, policy)
    assert worse.alias == "challenger" and "clinical_f1_micro" in worse.reason
    assert decide({"clinical_f1_micro": 0.36}, {"clinical_f1_micro": 0.35}, policy).alias == "champion"
    assert example_column("clinical_f1_micro") == example_column("abnormal_recall") == "clinical_f1"
