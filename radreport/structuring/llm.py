"""Structuring through any OpenAI-compatible chat-completions endpoint: structured output, concurrent,
rate-limited, retried with backoff, cached on disk, and repaired to be lossless.

The API key is read from the environment variable named in config and is never logged or stored.
"""

import asyncio
import json
import logging
import math
import os
import random
import time
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, ValidationError

from radreport import endpoint_guard as guard
from radreport.config import StructuringConfig
from radreport.endpoint_guard import EndpointRefused
from radreport.structuring.cache import StructuringCache
from radreport.structuring.repair import Repairs, Structured, repair
from radreport.structuring.rules import structure

log = logging.getLogger(__name__)


class RegionSentences(BaseModel):
    """The answer's schema: each region's sentences, copied verbatim from the findings."""
    model_config = ConfigDict(extra="forbid")
    lung: list[str]
    heart: list[str]
    mediastinal: list[str]
    bone: list[str]
    others: list[str]


SCHEMA = {"type": "json_schema",
          "json_schema": {"name": "region_sentences", "strict": True, "schema": RegionSentences.model_json_schema()}}


@dataclass
class LLMStats:
    reports: int = 0
    calls: int = 0
    retries: int = 0
    fallbacks: int = 0              # reports structured by rules after retries ran out
    cache_hits: int = 0
    cache_misses: int = 0
    sent_off_machine: int = 0
    endpoint_host: str = ""
    repairs: Repairs = field(default_factory=Repairs)

    def as_metrics(self) -> dict:
        return {"endpoint_host": self.endpoint_host, "reports": self.reports, "calls": self.calls, "retries": self.retries, "fallbacks": self.fallbacks,
                "cache_hits": self.cache_hits, "cache_misses": self.cache_misses,
                "sent_off_machine": self.sent_off_machine, "repaired_missing": self.repairs.missing,
                "repaired_invented": self.repairs.invented, "repaired_duplicated": self.repairs.duplicated}


def check_endpoint(cfg: StructuringConfig) -> tuple[str, str]:
    if not cfg.base_url:
        raise EndpointRefused("structuring.backend=llm needs structuring.base_url")
    return guard.check_endpoint(cfg.base_url, "structuring", cfg.allow_private_network, cfg.allow_external)


def retry_after_s(error: Exception) -> float | None:
    """The Retry-After seconds of an HTTP error's response; None when absent, unreadable, negative or not finite."""
    value = getattr(getattr(error, "response", None), "headers", {}).get("retry-after")
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


class RateLimiter:
    """Spaces request starts to at most `per_minute`."""

    def __init__(self, per_minute: int | None):
        self.interval = 60.0 / per_minute if per_minute else 0.0
        self.next_start = 0.0
        self.lock = asyncio.Lock()

    async def wait(self) -> None:
        if not self.interval:
            return
        async with self.lock:
            now = time.monotonic()
            delay = self.next_start - now
            self.next_start = max(now, self.next_start) + self.interval
        if delay > 0:
            await asyncio.sleep(delay)


class LLMStructurer:
    def __init__(self, cfg: StructuringConfig, cache: StructuringCache):
        self.cfg, self.cache = cfg, cache
        host, where = check_endpoint(cfg)
        self.stats = LLMStats(endpoint_host=host)
        self.is_external = where != guard.LOOPBACK

    def messages(self, findings: str) -> list[dict]:
        system = self.cfg.prompt
        if self.cfg.structured_output == "json_object":
            system += f"\nThe JSON must match this schema: {json.dumps(RegionSentences.model_json_schema())}"
        return [{"role": "system", "content": system}, {"role": "user", "content": findings}]

    async def ask(self, client, findings: str) -> dict[str, list[str]]:
        response_format = SCHEMA if self.cfg.structured_output == "json_schema" else {"type": "json_object"}
        self.stats.calls += 1
        # response_format rides in extra_body: the SDK would otherwise walk the whole schema on every request.
        reply = await client.chat.completions.create(model=self.cfg.model, messages=self.messages(findings),
                                                     temperature=self.cfg.temperature, max_tokens=self.cfg.max_tokens,
                                                     extra_body={"response_format": response_format})
        return RegionSentences.model_validate_json(reply.choices[0].message.content or "").model_dump()

    def retry_delay(self, attempt: int, error: Exception) -> float:
        """The server's Retry-After, never longer than one request may take (timeout_s: a scheduled run holding
        its lock must not sleep for a day), else exponential backoff with jitter. Each wait is one of max_retries."""
        retry_after = retry_after_s(error)
        if retry_after is not None:
            return min(retry_after, self.cfg.timeout_s)
        return self.cfg.backoff_s * 2 ** attempt * random.uniform(0.5, 1.0)

    async def structure_one(self, client, limiter: RateLimiter, gate: asyncio.Semaphore, findings: str) -> dict:
        import openai

        key = self.cache.key(self.cfg.prompt_version, self.cfg.model, findings)
        cached = self.cache.get(key)
        if cached is not None:
            return self.finish(findings, cached, "cache")
        retryable = (openai.RateLimitError, openai.InternalServerError, openai.APITimeoutError,
                     openai.APIConnectionError, ValidationError, json.JSONDecodeError)
        async with gate:
            for attempt in range(self.cfg.max_retries + 1):
                await limiter.wait()
                try:
                    proposed = await self.ask(client, findings)
                    self.stats.sent_off_machine += self.is_external
                    self.cache.put(key, proposed)
                    return self.finish(findings, proposed, "llm")
                except Exception as error:
                    if refused := guard.as_refusal(error, "structuring"):
                        raise refused from None
                    if not isinstance(error, retryable):
                        raise
                    if attempt == self.cfg.max_retries:
                        log.warning("structuring: giving up after %d attempts (%s); rule-based for this report",
                                    attempt + 1, type(error).__name__)
                        break
                    self.stats.retries += 1
                    await asyncio.sleep(self.retry_delay(attempt, error))
        self.stats.fallbacks += 1
        return Structured(structure(findings), Repairs(), "rules")

    def finish(self, findings: str, proposed: dict, source: str) -> Structured:
        regions, repairs = repair(findings, proposed)
        return Structured(regions, repairs, source)

    async def structure_all(self, findings: list[str], progress=None) -> list[Structured]:
        import openai

        http = guard.guarded_client("structuring", self.cfg.timeout_s, self.cfg.allow_private_network,
                                    self.cfg.allow_external)
        client = openai.AsyncOpenAI(base_url=self.cfg.base_url, api_key=os.environ.get(self.cfg.api_key_env) or "none",
                                    timeout=self.cfg.timeout_s, max_retries=0, http_client=http)
        limiter, gate = RateLimiter(self.cfg.requests_per_minute), asyncio.Semaphore(self.cfg.concurrency)

        async def one(text: str) -> Structured:
            result = await self.structure_one(client, limiter, gate, text) if text else \
                Structured(structure(text), Repairs(), "empty")
            if progress:
                progress.update(1)
            return result

        try:
            return await asyncio.gather(*(one(text) for text in findings))
        finally:
            await client.close()

    def run(self, findings: list[str], progress=None) -> list[Structured]:
        """Structure every findings text; identical texts are asked once."""
        unique = list(dict.fromkeys(findings))
        started_hits, started_misses = self.cache.hits, self.cache.misses
        by_text = dict(zip(unique, asyncio.run(self.structure_all(unique, progress))))
        results = [by_text[text] for text in findings]
        self.stats.reports += len(findings)
        self.stats.cache_hits += self.cache.hits - started_hits
        self.stats.cache_misses += self.cache.misses - started_misses
        for result in results:
            for name in ("missing", "invented", "duplicated"):
                setattr(self.stats.repairs, name, getattr(self.stats.repairs, name) + getattr(result.repairs, name))
        return results
