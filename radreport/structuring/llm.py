"""Structuring through any OpenAI-compatible chat-completions endpoint: structured output, asked through
radreport.endpoint_client (the privacy guard; concurrent, rate-limited, retried), cached on disk, and repaired to be
lossless.

The API key is read from the environment variable named in config and is never logged or stored.
"""

import asyncio
import json
import logging
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict

from radreport.config import StructuringConfig
from radreport.endpoint_client import EndpointClient, GaveUp
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


class LLMStructurer:
    def __init__(self, cfg: StructuringConfig, cache: StructuringCache):
        self.cfg, self.cache = cfg, cache
        self.endpoint = EndpointClient(cfg, "structuring")  # refuses a disallowed endpoint here, before any report
        self.stats = LLMStats(endpoint_host=self.endpoint.host)

    def messages(self, findings: str) -> list[dict]:
        system = self.cfg.prompt
        if self.cfg.structured_output == "json_object":
            system += f"\nThe JSON must match this schema: {json.dumps(RegionSentences.model_json_schema())}"
        return [{"role": "system", "content": system}, {"role": "user", "content": findings}]

    async def ask(self, findings: str) -> dict[str, list[str]]:
        """The endpoint's regions for one findings text; an answer off the schema is asked again (the client's
        retry policy)."""
        response_format = SCHEMA if self.cfg.structured_output == "json_schema" else {"type": "json_object"}
        # response_format rides in extra_body: the SDK would otherwise walk the whole schema on every request.
        answer = await self.endpoint.complete(self.messages(findings), RegionSentences.model_validate_json,
                                              temperature=self.cfg.temperature,
                                              extra_body={"response_format": response_format})
        return answer.model_dump()

    async def structure_one(self, findings: str) -> Structured:
        key = self.cache.key(self.cfg.prompt_version, self.cfg.model, findings)
        cached = self.cache.get(key)
        if cached is not None:
            return self.finish(findings, cached, "cache")
        try:
            proposed = await self.ask(findings)
        except GaveUp as gave_up:
            log.warning("%s; rule-based for this report", gave_up)
            self.stats.fallbacks += 1
            return Structured(structure(findings), Repairs(), "rules")
        self.stats.sent_off_machine += self.endpoint.off_machine
        self.cache.put(key, proposed)
        return self.finish(findings, proposed, "llm")

    def finish(self, findings: str, proposed: dict, source: str) -> Structured:
        regions, repairs = repair(findings, proposed)
        return Structured(regions, repairs, source)

    async def structure_all(self, findings: list[str], progress=None) -> list[Structured]:
        async def one(text: str) -> Structured:
            result = await self.structure_one(text) if text else Structured(structure(text), Repairs(), "empty")
            if progress:
                progress.update(1)
            return result

        async with self.endpoint:
            return await asyncio.gather(*(one(text) for text in findings))

    def run(self, findings: list[str], progress=None) -> list[Structured]:
        """Structure every findings text; identical texts are asked once."""
        unique = list(dict.fromkeys(findings))
        started_hits, started_misses = self.cache.hits, self.cache.misses
        by_text = dict(zip(unique, asyncio.run(self.structure_all(unique, progress))))
        results = [by_text[text] for text in findings]
        self.stats.reports += len(findings)
        self.stats.calls, self.stats.retries = self.endpoint.calls, self.endpoint.retries
        self.stats.cache_hits += self.cache.hits - started_hits
        self.stats.cache_misses += self.cache.misses - started_misses
        for result in results:
            for name in ("missing", "invented", "duplicated"):
                setattr(self.stats.repairs, name, getattr(self.stats.repairs, name) + getattr(result.repairs, name))
        return results
