"""Each metric equals its reference library's own result on 200 real IU X-Ray pairs (to 1e-6)."""

import json

import pytest
import sacrebleu
from nltk.translate.meteor_score import meteor_score
from bert_score import BERTScorer
from rouge_score import rouge_scorer

from radreport.ingest import ingest
from radreport.metrics import MetricSuite, paired_randomization
from radreport.metrics.meteor import tokenize


@pytest.fixture(scope="module")
def pairs(iu_xray):
    reports = ingest(iu_xray).reports
    both = reports[(reports["findings"] != "") & (reports["impression"] != "")]
    references = both["impression"].tolist()[:200]
    hypotheses = both["impression"].tolist()[200:400]  # other studies' real impressions as the "system"
    return references, hypotheses


@pytest.fixture(scope="module")
def suite():
    return MetricSuite()


def test_every_metric_equals_its_reference_library(pairs, suite):
    references, hypotheses = pairs
    corpus, examples = suite.score(references, hypotheses)
    for n in range(1, 5):
        expected = sacrebleu.BLEU(max_ngram_order=n).corpus_score(hypotheses, [references]).score
        assert corpus[f"bleu{n}"] == pytest.approx(expected, abs=1e-6)
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    for i, (r, h) in enumerate(zip(references, hypotheses)):
        expected = scorer.score(r, h)
        for kind in ("rouge1", "rouge2", "rougeL"):
            assert examples[kind][i] == pytest.approx(expected[kind].fmeasure, abs=1e-6)
        assert examples["meteor"][i] == pytest.approx(meteor_score([tokenize(r)], tokenize(h)), abs=1e-6)
    library = BERTScorer(model_type=suite.bertscore.model_path, num_layers=suite.bertscore.num_layers, lang="en")
    p, r, f = library.score(hypotheses, references)
    for ours, theirs in (("bertscore_p", p), ("bertscore_r", r), ("bertscore_f1", f)):
        assert max(abs(a - b) for a, b in zip(examples[ours], theirs.tolist())) < 1e-6


def test_meteor_uses_real_wordnet_synonyms():
    from radreport.metrics.meteor import meteor

    unrelated = meteor(["mild effusion"], ["large effusion"])[0]
    synonym = meteor(["mild effusion"], ["modest effusion"])[0]  # a WordNet synonym pair
    assert synonym > unrelated


def test_identical_texts_score_perfectly_and_mismatched_inputs_fail(suite):
    corpus, _ = suite.score(["No acute disease."] * 3, ["No acute disease."] * 3)
    assert corpus["rougeL"] == pytest.approx(1.0) and corpus["bleu4"] == pytest.approx(100.0)
    assert corpus["bertscore_f1"] == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ValueError, match="equal"):
        suite.score(["a"], [])


def test_regions_are_scored_separately_and_absent_when_both_sides_are_empty(suite):
    refs = ["The lungs are clear. The heart is enlarged.", "No pleural effusion."]
    hyps = ["The lungs are clear. Normal heart size.", "No pneumothorax."]
    regions = suite.by_region(refs, hyps)
    assert regions["bone"] == "absent" and regions["mediastinal"] == "absent"
    assert regions["lung"]["n"] == 2 and regions["heart"]["n"] == 1


def test_paired_randomization_separates_real_differences_from_noise(pairs, suite):
    _, examples = suite.score(*pairs)
    better = paired_randomization(examples["rougeL"], examples["rougeL"] * 0.8)
    same = paired_randomization(examples["rougeL"], examples["rougeL"].copy())  # every paired difference is 0
    assert better["p_value"] < 0.01 and same["p_value"] == 1.0


def test_score_command_prints_corpus_metrics_as_json(tmp_path, capsys):
    from run import main

    (tmp_path / "refs.txt").write_text("No acute disease.\nSmall left effusion.\n")
    (tmp_path / "hyps.jsonl").write_text('{"text": "No acute disease."}\n{"text": "Left pleural effusion."}\n')
    main(["score", "--refs", str(tmp_path / "refs.txt"), "--hyps", str(tmp_path / "hyps.jsonl"),
          "--metrics", "bleu", "rouge"])
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["pairs"] == 2 and 0 < result["rougeL"] < 1 and "bertscore_f1" not in result
    with pytest.raises(SystemExit, match="2 references but 1 hypotheses"):
        (tmp_path / "one.txt").write_text("x\n")
        main(["score", "--refs", str(tmp_path / "refs.txt"), "--hyps", str(tmp_path / "one.txt")])


def test_bertscore_embeddings_cached_on_disk_give_identical_scores(pairs, tmp_path):
    import sqlite3

    references, hypotheses = (list(side[:40]) for side in pairs)
    cache = tmp_path / "bertscore.sqlite"
    cold = MetricSuite(["bertscore"], bertscore_cache=str(cache)).per_example(references, hypotheses)
    stored = sqlite3.connect(cache).execute("SELECT COUNT(*) FROM embeddings").fetchone()[0]
    assert stored == len(set(references) | set(hypotheses))
    warm_suite = MetricSuite(["bertscore"], bertscore_cache=str(cache))  # a new process, as the next run would be
    warm = warm_suite.per_example(references, hypotheses)
    assert warm.equals(cold)  # exact: the stored float32 bytes are the embeddings
    MetricSuite(["bertscore"], bertscore_layers=5, bertscore_cache=str(cache)).per_example(references[:3], hypotheses[:3])
    layer5 = sqlite3.connect(cache).execute("SELECT COUNT(*) FROM embeddings").fetchone()[0]
    assert layer5 == stored + len(set(references[:3]) | set(hypotheses[:3]))  # another layer never reuses them


def test_clinical_figures_are_absent_not_zero_where_the_labeler_does_not_apply():
    references, hypotheses = ["No acute abnormality. Small hepatic cyst."], ["Hepatic cyst."]
    chest = MetricSuite(["rouge", "clinical"])
    ct = MetricSuite(["rouge", "clinical"], modalities=["ct"])
    assert "clinical_f1_micro" in chest.score(references, hypotheses)[0] and not chest.not_applicable
    corpus, examples = ct.score(references, hypotheses)
    assert not any(k.startswith("clinical") or k in ("abnormal_recall", "normal_agreement") for k in corpus)
    assert "clinical_f1" not in examples and "clinical_f1_micro" in ct.not_applicable
    assert any(note.startswith("clinical: not applicable to ct reports") for note in ct.notes)


def test_per_region_scores_follow_each_examples_scheme():
    from radreport.structuring.schemes import scheme_for

    references = ["The lungs are clear. Simple liver cyst.", "The lungs are clear. Normal heart size."]
    hypotheses = ["The lungs are clear. Liver cyst.", "The lungs are clear. The heart is normal."]
    regions = MetricSuite(["rouge"]).by_region(references, hypotheses, [scheme_for("ct").structure,
                                                                         scheme_for("chest_xray").structure])
    assert regions["abdomen"]["n"] == 1 and regions["chest"]["n"] == 1 and regions["lung"]["n"] == 1
    assert regions["heart"]["n"] == 1 and regions["brain"] == "absent"


def test_reports_that_mix_labelled_and_unlabelled_modalities_are_refused_clinically():
    from radreport.errors import RadreportError

    with pytest.raises(RadreportError, match="mix chest_xray, which the clinical labeler covers, with ct"):
        MetricSuite(["rouge", "clinical"], modalities=["chest_xray", "ct"])
    assert MetricSuite(["rouge"], modalities=["chest_xray", "ct"]).groups == ("rouge",)
