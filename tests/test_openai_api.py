"""The OpenAI-compatible routes, driven by the official `openai` client against uvicorn on loopback, with a real
(tiny, random) Llama and its tokenizer behind them."""

import httpx
import openai
import pytest

from radreport.formatting import prompt
from radreport.inference.generation import complete, generate
from radreport.serving.app import Limits, create_app
from radreport.vocabulary import INSTRUCTIONS
from tests.serving import served_app

IDS = ["radreport-test@3", "radreport-test@champion"]
FINDINGS = "The heart is normal in size. The lungs are clear."


class TinyTextModel:
    """What `run.py serve` serves, on the tiny model: the task's prompt around the input, as RegisteredModel does."""
    takes_images = False

    def __init__(self, path):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.model = AutoModelForCausalLM.from_pretrained(path)
        self.tokenizer = AutoTokenizer.from_pretrained(path)

    def prompt(self, text: str) -> str:
        return prompt(INSTRUCTIONS["findings_to_impression"], text)

    def generate(self, inputs, batch_size, max_new_tokens):
        return generate(self.model, self.tokenizer, [self.prompt(t) for t in inputs], batch_size, max_new_tokens)

    def complete(self, text, max_new_tokens, temperature=0.0, top_p=1.0, stop=None, seed=None, streamer=None,
                 json_schema=None):
        return complete(self.model, self.tokenizer, self.prompt(text), max_new_tokens, temperature, top_p, stop,
                        streamer, seed, json_schema)


@pytest.fixture(scope="module")
def server(tiny_model):
    model = TinyTextModel(tiny_model)
    app = create_app(model, {"model": "radreport-test", "version": 3}, Limits(max_chars=200, max_new_tokens=64), IDS)
    with served_app(app) as url:
        yield url, model


def client(url) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)


def test_models_lists_the_version_and_its_alias(server):
    url, _ = server
    assert [m.id for m in client(url).models.list().data] == IDS


def test_a_chat_completion_is_the_task_models_greedy_answer(server):
    url, model = server
    reply = client(url).chat.completions.create(model="radreport-test@champion", max_tokens=12,
                                                messages=[{"role": "system", "content": "ignored"},
                                                          {"role": "user", "content": FINDINGS}])
    expected = complete(model.model, model.tokenizer, model.prompt(FINDINGS), 12)
    assert reply.choices[0].message.content == expected.text and reply.object == "chat.completion"
    assert reply.choices[0].finish_reason == expected.finish_reason
    assert reply.usage.completion_tokens == expected.completion_tokens
    assert reply.usage.prompt_tokens == len(model.tokenizer(model.prompt(FINDINGS))["input_ids"])


def test_a_stream_sends_the_same_text_in_pieces(server):
    url, _ = server
    api = client(url)
    whole = api.completions.create(model=IDS[0], prompt=FINDINGS, max_tokens=16).choices[0].text
    chunks = list(api.chat.completions.create(model=IDS[0], max_tokens=16, stream=True,
                                              stream_options={"include_usage": True},
                                              messages=[{"role": "user", "content": FINDINGS}]))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    # The streamer sends text at word boundaries; this random model's text has none, so it may come as one piece.
    assert text.strip() == whole and chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-2].choices[0].finish_reason in ("stop", "length") and chunks[-1].usage.completion_tokens > 0


def test_stop_sequences_end_the_text_before_them(server):
    url, _ = server
    api = client(url)
    whole = api.completions.create(model=IDS[0], prompt=FINDINGS, max_tokens=24).choices[0].text
    stop = whole.split()[len(whole.split()) // 2] if len(whole.split()) > 1 else whole[:3]
    cut = api.completions.create(model=IDS[0], prompt=FINDINGS, max_tokens=24, stop=[stop])
    assert cut.choices[0].text == whole[:whole.find(stop)].strip() and cut.choices[0].finish_reason == "stop"
    streamed = "".join(c.choices[0].text for c in api.completions.create(model=IDS[0], prompt=FINDINGS,
                                                                          max_tokens=24, stop=[stop], stream=True))
    assert streamed.strip() == cut.choices[0].text


VERDICT = {"type": "object", "properties": {"verdict": {"type": "string", "enum": ["normal", "abnormal"]},
                                          "urgent": {"type": "boolean"}},
           "required": ["verdict", "urgent"], "additionalProperties": False}


def test_a_json_schema_answer_is_valid_for_the_schema_in_one_call(server):
    """A random model cannot write JSON by itself: the constrained decoder makes every answer schema-valid."""
    import json

    url, _ = server
    api = client(url)
    for temperature in (0.0, 1.0):
        reply = api.chat.completions.create(
            model=IDS[0], max_tokens=64, temperature=temperature, seed=1,
            messages=[{"role": "user", "content": FINDINGS}],
            response_format={"type": "json_schema", "json_schema": {"name": "verdict", "schema": VERDICT}})
        answer = json.loads(reply.choices[0].message.content)
        assert set(answer) == {"verdict", "urgent"} and answer["verdict"] in ("normal", "abnormal")
        assert isinstance(answer["urgent"], bool) and reply.choices[0].finish_reason == "stop"


def pattern_schema(pattern: str) -> dict:
    schema = {"type": "object", "properties": {"code": {"type": "string", "pattern": pattern}}, "required": ["code"],
              "additionalProperties": False}
    return {"type": "json_schema", "json_schema": {"name": "code", "schema": schema}}


def test_a_schema_pattern_is_enforced(server):
    import json
    import re

    url, _ = server
    code = pattern_schema("^[a-c]{2}$")
    reply = client(url).chat.completions.create(model=IDS[0], max_tokens=32, response_format=code,
                                                messages=[{"role": "user", "content": FINDINGS}])
    assert re.fullmatch("[a-c]{2}", json.loads(reply.choices[0].message.content)["code"])


@pytest.mark.parametrize("pattern", ["(a|b)*a(a|b){18}", r"(a)\1", "(?<=a)b", "a(?=b)", "a$b"])
def test_a_pattern_constrained_decoding_cannot_enforce_is_a_400_and_the_server_goes_on(server, pattern):
    """(a|b)*a(a|b){18} compiles to 2^19 states (hours of the worker, which holds the model); the others would be
    answered with text that is not valid for the schema."""
    url, _ = server
    refused = httpx.post(f"{url}/v1/chat/completions", timeout=60,  # 60 s: only so a hang fails
                         json={"model": IDS[0], "max_tokens": 32, "response_format": pattern_schema(pattern),
                               "messages": [{"role": "user", "content": FINDINGS}]})
    after = client(url).chat.completions.create(model=IDS[0], max_tokens=4, timeout=60,
                                                messages=[{"role": "user", "content": FINDINGS}])
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "response_format"
    assert after.choices[0].finish_reason in ("stop", "length")


def test_sampling_is_seeded(server):
    url, _ = server
    api = client(url)
    ask = lambda: api.completions.create(model=IDS[0], prompt=FINDINGS, max_tokens=12, temperature=1.0,  # noqa: E731
                                         seed=7).choices[0].text
    assert ask() == ask()


@pytest.mark.parametrize("request_body, status, param", [
    ({"model": IDS[0], "messages": [{"role": "system", "content": "x"}]}, 400, "messages"),
    ({"model": IDS[0], "messages": [{"role": "user", "content": "x" * 201}]}, 400, "messages"),
    ({"model": IDS[0], "messages": [{"role": "user", "content": "x"}], "max_tokens": 65}, 400, "max_tokens"),
    ({"model": IDS[0], "messages": [{"role": "user", "content": "x"}], "n": 2}, 400, "n"),
    ({"model": IDS[0], "messages": [{"role": "user", "content": "x"}], "response_format": {"type": "grammar"}},
     400, "response_format"),
    ({"model": "other", "messages": [{"role": "user", "content": "x"}]}, 404, "model"),
])
def test_malformed_requests_get_openais_error_shape_without_the_text(server, request_body, status, param):
    url, _ = server
    answer = httpx.post(f"{url}/v1/chat/completions", json=request_body, timeout=30)
    assert answer.status_code == status
    body = answer.json()["error"]
    assert body["param"] == param and body["type"] == "invalid_request_error" and "x" * 20 not in body["message"]
    with pytest.raises(openai.APIStatusError) as raised:
        client(url).chat.completions.create(**request_body)
    assert raised.value.status_code == status


def test_errors_name_the_field_never_the_request_content(server):
    url, _ = server
    secret = "Patient John Q Example has a 3 cm mass"
    unknown_model = httpx.post(f"{url}/v1/chat/completions", timeout=30,
                               json={"model": secret, "messages": [{"role": "user", "content": FINDINGS}]})
    assert unknown_model.status_code == 404 and unknown_model.json()["error"]["param"] == "model"
    assert "John" not in unknown_model.text


def test_a_deeply_nested_body_is_refused_in_openais_shape(server):
    url, _ = server
    depth = 100_000  # past the JSON parser's recursion limit, inside the body limit
    body = '{"model": "%s", "messages": %s%s}' % (IDS[0], "[" * depth, "]" * depth)
    answer = httpx.post(f"{url}/v1/chat/completions", content=body, timeout=30,
                        headers={"content-type": "application/json"})
    assert answer.status_code == 400 and answer.json()["error"]["type"] == "invalid_request_error"


def test_an_oversized_body_is_a_413_in_openais_shape(server):
    url, _ = server
    answer = httpx.post(f"{url}/v1/chat/completions", content=b"x" * 300_000, timeout=30)
    assert answer.status_code == 413 and "request body over" in answer.json()["error"]["message"]


STRUCTURING_FINDINGS = ["The heart is normal in size. The lungs are clear. No pleural effusion.",
                        "Degenerative changes of the spine. Mediastinal contours are normal."]


def test_the_structuring_client_structures_through_the_served_model(server, tmp_path):
    """structure_findings' LLM client against run.py serve's app (json_schema by constrained decoding): every
    answer is taken (or, cut short, left to the rules) and every report comes back lossless."""
    from collections import Counter

    from radreport.config import StructuringConfig
    from radreport.structuring import REGIONS, split_sentences
    from radreport.structuring.cache import StructuringCache
    from radreport.structuring.llm import LLMStructurer

    url, _ = server
    cfg = StructuringConfig(backend="llm", base_url=f"{url}/v1", model=IDS[1], max_tokens=64, max_retries=0,
                            concurrency=2, cache_path=str(tmp_path / "cache.sqlite"))
    structurer = LLMStructurer(cfg, StructuringCache(cfg.cache_path))
    results = structurer.run(STRUCTURING_FINDINGS)
    for findings, result in zip(STRUCTURING_FINDINGS, results):
        assert Counter(s for r in REGIONS for s in result.regions[r]) == Counter(split_sentences(findings))
    assert structurer.stats.calls == len(STRUCTURING_FINDINGS) and structurer.stats.retries == 0


def test_the_green_client_gets_an_answer_from_the_served_model(server):
    """GREEN's client against the same server (limits that admit GREEN's prompt): a task model does not answer in
    GREEN's template, so every pair scores 0 and the judge says so (a GREEN model served this way is parsed)."""
    from radreport.config import GreenJudgeConfig
    from radreport.metrics.green import GreenJudge

    _, model = server
    app = create_app(model, {"model": "radreport-test", "version": 3}, Limits(max_new_tokens=16), IDS)
    with served_app(app) as url:
        judge = GreenJudge(GreenJudgeConfig(base_url=f"{url}/v1", model=IDS[0], max_tokens=16, max_retries=0))
        assert judge.score(["Lungs are clear."], ["No effusion."]) == [0.0]
    assert "1 judge answers did not follow the template and scored 0" in judge.description
