import pytest
import sacrebleu
from rouge_score import rouge_scorer

from radreport.ingest import ingest
from radreport.metrics import corpus_metrics


def test_metrics_equal_the_reference_libraries(iu_xray):
    reports = ingest(iu_xray).reports
    pairs = reports[(reports["findings"] != "") & (reports["impression"] != "")].head(200)
    refs, hyps = pairs["impression"].tolist(), pairs["findings"].tolist()
    scores = corpus_metrics(refs, hyps)
    assert scores["bleu"] == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs]).score, abs=1e-6)
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    expected = sum(scorer.score(r, h)["rougeL"].fmeasure for r, h in zip(refs, hyps)) / len(refs)
    assert scores["rougeL"] == pytest.approx(expected, abs=1e-6)


def test_identical_texts_score_perfectly_and_mismatched_inputs_fail():
    scores = corpus_metrics(["No acute disease."] * 3, ["No acute disease."] * 3)
    assert scores["rougeL"] == pytest.approx(1.0) and scores["bleu"] == pytest.approx(100.0)
    with pytest.raises(ValueError, match="equal"):
        corpus_metrics(["a"], [])
