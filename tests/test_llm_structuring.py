"""LLM structuring against a real HTTP server on 127.0.0.1 speaking the OpenAI chat-completions API."""

import json
from collections import Counter, deque
from pathlib import Path

import pytest

from radreport.config import StructuringConfig
from radreport.endpoint_client import check_endpoint
from radreport.endpoint_guard import EndpointRefused
from radreport.structuring import REGIONS, region_of, split_sentences
from radreport.structuring.cache import StructuringCache
from radreport.structuring.llm import LLMStructurer
from radreport.structuring.repair import repair
from tests.openai_server import FAULTS, FakeOpenAIServer

FINDINGS = ["The heart is normal in size. The lungs are clear. No acute osseous abnormality.",
            "Small left pleural effusion. The aorta is tortuous. Healed rib fracture. Sternotomy wires.",
            "Mild cardiomegaly. Bibasilar atelectasis."]


def assert_lossless(findings: str, regions: dict) -> None:
    assert Counter(s for r in REGIONS for s in regions[r]) == Counter(split_sentences(findings))


def config(server, tmp_path, **overrides) -> StructuringConfig:
    return StructuringConfig(**{"backend": "llm", "base_url": server.base_url, "timeout_s": 0.5, "backoff_s": 0.01,
                                "max_retries": 3, "cache_path": str(tmp_path / "cache.sqlite"), **overrides})


def run(cfg: StructuringConfig, findings: list[str]):
    cache = StructuringCache(cfg.cache_path)
    structurer = LLMStructurer(cfg, cache)
    try:
        return structurer.run(findings), structurer.stats
    finally:
        cache.close()


@pytest.mark.parametrize("fault", FAULTS)
def test_every_fault_still_gives_lossless_structure_with_bounded_retries(tmp_path, fault):
    with FakeOpenAIServer(slow_s=1.5) as server:
        for text in FINDINGS:
            server.plan[text] = deque([fault])
        results, stats = run(config(server, tmp_path), FINDINGS)
        assert len(server.requests) <= len(FINDINGS) * 4
    for text, result in zip(FINDINGS, results):
        assert_lossless(text, result.regions)
    if fault in ("429", "500", "slow", "malformed", "schema"):
        assert stats.retries == len(FINDINGS) and stats.fallbacks == 0
    if fault in ("drop", "invent", "duplicate"):
        assert getattr(stats.repairs, {"drop": "missing", "invent": "invented", "duplicate": "duplicated"}[fault]) == 3


def test_retries_run_out_into_the_rule_based_structurer(tmp_path):
    with FakeOpenAIServer() as server:
        server.plan[FINDINGS[0]] = deque(["500"] * 10)
        results, stats = run(config(server, tmp_path, max_retries=2), FINDINGS[:1])
        assert len(server.requests) == 3  # the first try and two retries
    assert stats.fallbacks == 1 and results[0].source == "rules"
    assert_lossless(FINDINGS[0], results[0].regions)


@pytest.mark.parametrize("retry_after, wait", [("86400", 0.5), ("inf", None), ("-1", None), ("nan", None)])
def test_retry_after_is_capped_at_the_request_timeout_and_nonsense_ignored(tmp_path, monkeypatch, retry_after, wait):
    """A day's (or an infinite) Retry-After would hang a scheduled retrain holding its lock: the wait is at most
    timeout_s (0.5 s here), a value that is no wait at all gets the usual backoff, and either is one retry."""
    import asyncio

    sleep, waits = asyncio.sleep, []

    async def recorded(seconds, *args):
        waits.append(seconds)
        await sleep(0)

    monkeypatch.setattr(asyncio, "sleep", recorded)
    with FakeOpenAIServer(retry_after_s=retry_after) as server:
        server.plan[FINDINGS[0]] = deque(["429"])
        results, stats = run(config(server, tmp_path), FINDINGS[:1])
    assert results[0].source == "llm" and stats.retries == 1 and len(waits) == 1
    assert waits[0] == wait if wait else 0 < waits[0] <= 0.01  # config(): timeout_s 0.5, backoff_s 0.01


def test_a_rerun_is_served_from_cache_with_zero_calls(tmp_path):
    with FakeOpenAIServer() as server:
        first, stats = run(config(server, tmp_path), FINDINGS + FINDINGS[:1])
        assert len(server.requests) == 3 and stats.cache_misses == 3  # identical texts are asked once
        again, stats = run(config(server, tmp_path), FINDINGS)
        assert len(server.requests) == 3 and stats.cache_hits == 3 and stats.calls == 0
        changed, _ = run(config(server, tmp_path, prompt_version="seed-v2"), FINDINGS[:1])
        assert len(server.requests) == 4  # a new prompt version asks again
    assert [r.regions for r in again] == [r.regions for r in first[:3]]


def test_json_object_mode_for_servers_without_schema_support(tmp_path):
    with FakeOpenAIServer() as server:
        results, _ = run(config(server, tmp_path, structured_output="json_object"), FINDINGS[:1])
        request = server.requests[0]["body"]
    assert request["response_format"] == {"type": "json_object"}
    assert "schema" in request["messages"][0]["content"]
    assert results[0].regions["heart"] == ["The heart is normal in size."]


def test_schema_mode_sends_the_pydantic_schema(tmp_path):
    with FakeOpenAIServer() as server:
        run(config(server, tmp_path), FINDINGS[:1])
        response_format = server.requests[0]["body"]["response_format"]
    assert response_format["type"] == "json_schema"
    assert set(response_format["json_schema"]["schema"]["properties"]) == set(REGIONS)


def test_privacy_guard_allows_this_machine_by_default_and_other_hosts_only_when_told():
    for url, flag in [("https://api.openai.com/v1", "allow_external"), ("http://8.8.8.8:8000/v1", "allow_external"),
                      ("http://10.1.2.3:8000/v1", "allow_private_network"), ("http://[::ffff:8.8.8.8]/v1", "allow_external")]:
        with pytest.raises(EndpointRefused, match=flag):
            check_endpoint(StructuringConfig(backend="llm", base_url=url), "structuring")
    assert check_endpoint(StructuringConfig(backend="llm", base_url="http://8.8.8.8/v1", allow_external=True),
                          "structuring")
    assert check_endpoint(StructuringConfig(backend="llm", base_url="http://localhost:8000/v1"),
                          "structuring") == ("localhost", "loopback")
    assert check_endpoint(StructuringConfig(backend="llm", base_url="http://10.1.2.3/v1", allow_private_network=True),
                          "structuring")


@pytest.mark.parametrize("address, expected", [
    ("127.0.0.1", "loopback"), ("::1", "loopback"), ("::ffff:127.0.0.1", "loopback"),
    ("10.1.2.3", "private network"), ("172.31.0.1", "private network"), ("192.168.1.1", "private network"),
    ("fd12::1", "private network"), ("169.254.1.1", "private network"), ("fe80::1%eth0", "private network"),
    ("2001::1", "external"), ("2001:0:4136:e378::1", "external"), ("198.18.0.1", "external"),
    ("198.19.255.1", "external"), ("192.0.2.1", "external"), ("2001:db8::1", "external"), ("172.32.0.1", "external"),
    ("100.64.0.1", "external"), ("::ffff:198.18.0.1", "external"), ("8.8.8.8", "external")])
def test_only_rfc1918_unique_local_and_link_local_addresses_count_as_a_private_network(address, expected):
    """Python's is_private takes Teredo (2001::/23, a tunnel to anywhere) and 198.18/15 for private."""
    from radreport.endpoint_guard import address_class

    assert address_class(address) == expected


def test_the_guard_checks_the_address_it_connects_to():
    """A name can resolve elsewhere after the first check: the client itself refuses the address at connect."""
    import asyncio

    from radreport.endpoint_guard import guarded_client

    async def get(url):
        async with guarded_client("structuring", 1.0) as client:
            await client.get(url)

    with pytest.raises(EndpointRefused, match=r"'10.255.255.1' \(address 10.255.255.1\).*allow_private_network"):
        asyncio.run(get("http://10.255.255.1:9/v1"))


def test_a_redirect_never_carries_findings_to_another_host(tmp_path):
    """The endpoint on loopback answers 307 to another server: nothing reaches it, and the run says why."""
    with FakeOpenAIServer() as elsewhere, FakeOpenAIServer() as endpoint:
        endpoint.redirect_to = elsewhere.base_url.removesuffix("/v1")
        with pytest.raises(EndpointRefused, match="307, a redirect to '127.0.0.1'; redirects are not followed"):
            run(config(endpoint, tmp_path), FINDINGS[:1])
        assert len(endpoint.requests) == 1 and elsewhere.requests == []


def test_proxy_variables_are_never_read(tmp_path, monkeypatch):
    with FakeOpenAIServer() as proxy, FakeOpenAIServer() as endpoint:
        for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "HTTPS_PROXY"):
            monkeypatch.setenv(name, proxy.base_url.removesuffix("/v1"))
        results, stats = run(config(endpoint, tmp_path), FINDINGS[:1])
        assert proxy.requests == [] and len(endpoint.requests) == 1
    assert results[0].source == "llm" and stats.sent_off_machine == 0


def test_repair_handles_drops_inventions_duplicates_and_merges():
    findings = "The lungs are clear. Heart is normal. The lungs are clear. No fracture."
    regions, repairs = repair(findings, {"lung": ["the lungs are clear", "The lungs are clear.", "The lungs are clear"],
                                         "heart": ["Heart is normal. The liver is large."], "bone": []})
    assert regions["lung"] == ["The lungs are clear.", "The lungs are clear."]
    assert regions["heart"] == ["Heart is normal."] and regions["bone"] == ["No fracture."]
    assert (repairs.missing, repairs.invented, repairs.duplicated) == (1, 1, 1)


def test_api_key_never_reaches_logs_mlflow_or_artifacts(stack, tiny_model, sample_path, tmp_path, monkeypatch, capfd):
    """The whole pipeline with LLM structuring; then every stored byte is searched for the key."""
    import yaml

    from radreport.paths import home
    from run import main

    secret = "sk-test-4f9c2e7a1b8d6e3f"
    monkeypatch.setenv("RADREPORT_TEST_KEY", secret)
    with FakeOpenAIServer() as server:
        cfg = tmp_path / "llm.yaml"
        cfg.write_text(yaml.safe_dump({
            "structuring": {"backend": "llm", "base_url": server.base_url, "api_key_env": "RADREPORT_TEST_KEY",
                            "cache_path": str(tmp_path / "cache.sqlite")},
            "train": {"model": str(tiny_model), "max_steps": 2, "save_steps": 2},
            "eval": {"max_examples": 4, "max_new_tokens": 4}, "human_eval": {"cases": 2},
            "promotion": {"model_name": "radreport-llm-structured"}}))
        main(["run", "--config", str(cfg), "--data", str(sample_path)])
        assert server.requests and all(r["authorization"] == f"Bearer {secret}" for r in server.requests)
    output = capfd.readouterr()
    assert secret not in output.out + output.err
    for path in [p for p in home().rglob("*") if p.is_file()] + [tmp_path / "cache.sqlite"]:
        assert secret.encode() not in path.read_bytes(), path


def test_rule_based_structurer_agrees_with_hand_labels():
    """170 IU X-Ray findings sentences labelled by hand (tests/fixtures/region_gold.jsonl); floors as measured."""
    gold = [json.loads(line) for line in (Path(__file__).parent / "fixtures/region_gold.jsonl").read_text().splitlines()]
    assert len(gold) >= 150
    predicted = [region_of(g["sentence"]) for g in gold]
    floors = {"lung": (0.95, 0.95), "heart": (0.85, 0.9), "mediastinal": (0.9, 0.8), "bone": (0.9, 0.85),
              "others": (0.65, 0.85)}
    for region, (precision_floor, recall_floor) in floors.items():
        tp = sum(p == region == g["region"] for p, g in zip(predicted, gold))
        assert tp / sum(p == region for p in predicted) >= precision_floor, region
        assert tp / sum(g["region"] == region for g in gold) >= recall_floor, region
    assert sum(p == g["region"] for p, g in zip(predicted, gold)) / len(gold) >= 0.92


def test_cache_writers_wait_for_each_other_and_a_locked_cache_never_fails_the_run(tmp_path, caplog):
    """Another process holding an open write transaction: reads go on (WAL), a put waits for it (busy timeout),
    and a put that still finds it locked is logged and skipped, never raised."""
    import sqlite3
    import threading

    path = tmp_path / "cache.sqlite"
    cache = StructuringCache(path)
    cache.put("a", {"lung": ["Clear."]})
    other = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO answers VALUES ('b', '{}')")
    assert cache.get("a") == {"lung": ["Clear."]}
    threading.Timer(0.5, lambda: other.execute("COMMIT")).start()
    cache.put("c", {"heart": ["Normal."]})  # waits the half second, then writes
    assert cache.get("b") == {} and cache.get("c") == {"heart": ["Normal."]}
    other.execute("BEGIN IMMEDIATE")
    cache.db.execute("PRAGMA busy_timeout=100")
    cache.put("d", {"bone": []})
    assert cache.write_errors == 1 and "write failed" in caplog.text
    other.execute("ROLLBACK")
    cache.close()
    reopened = StructuringCache(path)
    assert reopened.get("d") is None and reopened.get("c") == {"heart": ["Normal."]}
    reopened.close()
