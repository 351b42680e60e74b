"""GREEN through a real OpenAI-compatible HTTP server whose judge answers in GREEN's format (tests/openai_server.py)."""

import json
from collections import deque

import pytest

from radreport.errors import RadreportError
from radreport.config import EvalConfig, GreenJudgeConfig
from radreport.metrics import MetricSuite
from radreport.metrics.clinical import ClinicalMetrics
from radreport.metrics.green import GreenJudge, judge_prompt, parse_judgement
from run import main
from tests.openai_server import FakeOpenAIServer

REFERENCE_STYLE = """[Explanation]:
The candidate misses the effusion and adds a nodule.

[Clinically Significant Errors]:
(a) False report of a finding in the candidate: 1. Right upper lobe nodule.
(b) Missing a finding present in the reference: 1. Small left pleural effusion.
(c) Misidentification of a finding's anatomic location/position: 0.
(d) Misassessment of the severity of a finding: 2. Heart size; edema.
(e) Mentioning a comparison that isn't in the reference: 0.
(f) Omitting a comparison detailing a change from a prior study: 0.

[Clinically Insignificant Errors]:
(a) False report of a finding in the candidate: 3. x; y; z

[Matched Findings]:
4. Cardiomegaly; edema; clear right lung; no pneumothorax
"""


def test_parse_the_reference_format_and_compute_green():
    judgement = parse_judgement(REFERENCE_STYLE)
    assert judgement.significant == (1, 1, 0, 2, 0, 0) and judgement.matched == 4 and judgement.parsed
    assert judgement.green == pytest.approx(4 / 8)  # insignificant errors do not count
    gpt4_style = REFERENCE_STYLE.replace("(a) False report", "(1) False report").replace("(b) Missing", "(2) Missing")
    assert parse_judgement(gpt4_style).significant[:2] == (1, 1)
    nothing_matched = REFERENCE_STYLE.replace("4. Cardiomegaly", "0. None")
    assert parse_judgement(nothing_matched).green == 0.0
    no_errors = "[Clinically Significant Errors]:\nNo clinically significant errors.\n\n[Matched Findings]:\n2. a; b"
    assert parse_judgement(no_errors).green == 1.0
    off_template = parse_judgement("Looks good.")
    assert not off_template.parsed and off_template.green == 0.0


@pytest.fixture(scope="module")
def iu_pairs(iu_xray):
    from radreport.ingest import ingest

    reports = ingest(str(iu_xray)).reports.dropna(subset=["impression"]).head(24)
    references = reports["impression"].tolist()
    return references, references[1:] + references[:1]


def test_judge_over_http_matches_the_judges_own_counts(iu_pairs, monkeypatch):
    monkeypatch.setenv("GREEN_API_KEY", "sk-green-secret")
    references, candidates = iu_pairs
    references, candidates = references + references[:4], candidates + references[:4]  # 4 repeats, 4 identical
    with FakeOpenAIServer() as server:
        judge = GreenJudge(GreenJudgeConfig(base_url=server.base_url, model="green-test", concurrency=4))
        scores = judge.score(references, candidates)
        distinct = len(set(zip(references, candidates)))
        assert len(server.requests) == distinct  # each distinct pair asked once
        assert all(r["authorization"] == "Bearer sk-green-secret" for r in server.requests)
    expected = []
    for ref, hyp in zip(*map(ClinicalMetrics().asserted, (references, candidates))):
        matched = len(ref & hyp) or int(not ref | hyp)  # two normal reports match on "no abnormality"
        expected.append(matched / (matched + len(hyp - ref) + len(ref - hyp)) if matched else 0.0)
    assert scores == pytest.approx(expected)
    assert scores[-4:] == [1.0] * 4 and 0 < sum(scores) / len(scores) < 1
    assert "sk-green-secret" not in judge.description


def test_judge_retries_rate_limits_and_scores_an_off_template_answer_zero(iu_pairs):
    references, candidates = (list(t[:6]) for t in iu_pairs)
    with FakeOpenAIServer(retry_after_s=0.05) as server:
        server.plan[judge_prompt(references[0], candidates[0])] = deque(["429", "500"])
        server.plan[judge_prompt(references[1], references[1])] = deque(["malformed"])
        judge = GreenJudge(GreenJudgeConfig(base_url=server.base_url, max_retries=3))
        scores = judge.score(references[:2], [candidates[0], references[1]])
    assert scores[1] == 0.0 and len(server.requests) == 4  # two retries, then two answers
    assert "1 judge answers did not follow the template and scored 0" in judge.description


def test_a_judge_that_never_answers_fails_after_its_retries_with_the_structurers_policy(iu_pairs):
    """The judge's client is the structurer's (radreport.endpoint_client): the same retries, then an error that says
    so rather than a GREEN of 0."""
    references, candidates = (list(t[:1]) for t in iu_pairs)
    with FakeOpenAIServer(retry_after_s=0.01) as server:
        server.plan[judge_prompt(references[0], candidates[0])] = deque(["429"] * 5)
        judge = GreenJudge(GreenJudgeConfig(base_url=server.base_url, max_retries=2))
        with pytest.raises(RadreportError, match=r"eval.green: no answer after 3 tries \(RateLimitError\)"):
            judge.score(references, candidates)
        assert len(server.requests) == 3 and judge.endpoint.retries == 2


def test_an_external_judge_is_refused_unless_allowed():
    with pytest.raises(RadreportError, match="'api.example.com' is on an external host, not this machine; set eval.green.allow_external"):
        GreenJudge(GreenJudgeConfig(base_url="https://api.example.com/v1"))
    with pytest.raises(ValueError, match="select_metric: green needs eval.green"):
        EvalConfig(select_metric="green")


def test_green_in_the_suite_per_region_and_in_run_py_score(iu_pairs, tmp_path, capsys):
    references, candidates = (list(t[:8]) for t in iu_pairs)
    with FakeOpenAIServer() as server:
        suite = MetricSuite(["rouge"], green=GreenJudgeConfig(base_url=server.base_url))
        corpus, examples = suite.score(references, candidates)
        assert set(examples.columns) == {"rouge1", "rouge2", "rougeL", "green"}
        assert corpus["green"] == pytest.approx(examples["green"].mean())
        regions = suite.by_region(references, candidates)
        assert all("green" in scores for scores in regions.values() if scores != "absent")

        refs, hyps = tmp_path / "refs.txt", tmp_path / "hyps.txt"
        refs.write_text("\n".join(references) + "\n")
        hyps.write_text("\n".join(candidates) + "\n")
        capsys.readouterr()
        main(["score", "--refs", str(refs), "--hyps", str(hyps), "--metrics", "rouge", "--green-url", server.base_url])
    result = json.loads(capsys.readouterr().out)
    assert result["green"] == pytest.approx(corpus["green"], abs=1e-6)
    assert any(note.startswith("GREEN: judge StanfordAIMI/GREEN-RadLlama2-7b") for note in result["notes"])


def test_a_local_judge_model_runs_in_process(iu_pairs, tiny_model):
    references, candidates = (list(t[:3]) for t in iu_pairs)
    judge = GreenJudge(GreenJudgeConfig(model_path=str(tiny_model), max_tokens=8, batch_size=2))
    scores = judge.score(references, candidates)  # a random tiny model never answers in GREEN's template
    assert scores == [0.0, 0.0, 0.0] and "3 judge answers did not follow the template" in judge.description
    assert f"{tiny_model} (local)" in judge.description
    for neither_or_both in ({}, {"base_url": "http://127.0.0.1:1/v1", "model_path": str(tiny_model)}):
        with pytest.raises(ValueError, match="exactly one of base_url"):
            GreenJudgeConfig(**neither_or_both)


def test_a_judge_redirect_is_refused_not_followed(iu_pairs):
    with FakeOpenAIServer() as elsewhere, FakeOpenAIServer() as endpoint:
        endpoint.redirect_to = elsewhere.base_url.removesuffix("/v1")
        judge = GreenJudge(GreenJudgeConfig(base_url=endpoint.base_url, max_retries=0))
        with pytest.raises(RadreportError, match="eval.green endpoint answered 307"):
            judge.score(iu_pairs[0][:1], iu_pairs[1][:1])
        assert elsewhere.requests == []
