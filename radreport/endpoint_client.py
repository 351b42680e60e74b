"""The one client for OpenAI-compatible chat endpoints that report text is sent to (LLM structuring, the GREEN
judge): every request through the privacy guard (radreport.endpoint_guard), `concurrency` in flight, starts spaced
to `requests_per_minute`, and one retry policy.

The policy: a rate limit (429), a server error (5xx), 408 or 409, a timeout, a dropped connection, or an answer the
caller's parser refuses is tried again, at most `max_retries` times. Each wait is the server's Retry-After (or
retry-after-ms) when it gives one, else `backoff_s` doubling per retry with jitter, and never longer than one request
may take (`timeout_s`): a scheduled run holding its lock must not sleep for a day. A refusal by the guard (an
address or a redirect outside the allowed classes) is never retried, any other error is raised at once, and the
SDK's own retries are off, so this is the only policy.
"""

import asyncio
import math
import os
import random
import time
from typing import Callable, TypeVar

from radreport import endpoint_guard as guard
from radreport.config import EndpointConfig
from radreport.errors import RadreportError

Answer = TypeVar("Answer")
RETRY_STATUSES = (408, 409, 429)  # and every 5xx


class GaveUp(RadreportError):
    """Every try of one request failed in a way worth retrying; the caller decides what then."""


class UnreadableAnswer(Exception):
    """The caller's parser refused the answer (invalid JSON, a schema violation): worth asking again."""


def check_endpoint(cfg: EndpointConfig, setting: str) -> tuple[str, str]:
    """(host, class) of the configured endpoint; EndpointRefused, before anything is sent, when it is not allowed."""
    if not cfg.base_url:
        raise guard.EndpointRefused(f"{setting} needs {setting}.base_url")
    return guard.check_endpoint(cfg.base_url, setting, cfg.allow_private_network, cfg.allow_external)


def retryable(error: Exception) -> bool:
    """Worth another try: the server was busy or failed, the request timed out or its connection dropped, or the
    answer could not be read. A client error (400, 401, 404, ...) would fail the same way again."""
    import openai

    if isinstance(error, openai.APIStatusError):
        return error.status_code in RETRY_STATUSES or error.status_code >= 500
    return isinstance(error, (openai.APIConnectionError, UnreadableAnswer))  # APITimeoutError is a connection error


def retry_after_s(error: Exception) -> float | None:
    """The wait an HTTP error's response asks for, in seconds; None when absent, unreadable, negative or not finite."""
    headers = getattr(getattr(error, "response", None), "headers", {})
    for name, per_second in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        try:
            seconds = float(headers.get(name)) / per_second
        except (TypeError, ValueError):
            continue
        if math.isfinite(seconds) and seconds >= 0:
            return seconds
    return None


def retry_delay(cfg: EndpointConfig, attempt: int, error: Exception) -> float:
    """The server's Retry-After, else exponential backoff with jitter; either at most timeout_s."""
    asked = retry_after_s(error)
    wait = asked if asked is not None else cfg.backoff_s * 2 ** attempt * random.uniform(0.5, 1.0)
    return min(wait, cfg.timeout_s)


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


class EndpointClient:
    """Chat completions at one configured endpoint. The endpoint is checked when the client is made; `async with
    client:` opens its guarded connections for one event loop; `calls` and `retries` count across them all."""

    def __init__(self, cfg: EndpointConfig, setting: str):
        self.cfg, self.setting = cfg, setting
        self.host, where = check_endpoint(cfg, setting)
        self.off_machine = where != guard.LOOPBACK
        self.calls = self.retries = 0

    async def __aenter__(self) -> "EndpointClient":
        import openai

        cfg = self.cfg
        http = guard.guarded_client(self.setting, cfg.timeout_s, cfg.allow_private_network, cfg.allow_external)
        self.sdk = openai.AsyncOpenAI(base_url=cfg.base_url, api_key=os.environ.get(cfg.api_key_env) or "none",
                                      timeout=cfg.timeout_s, max_retries=0, http_client=http)
        self.limiter, self.gate = RateLimiter(cfg.requests_per_minute), asyncio.Semaphore(cfg.concurrency)
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.sdk.close()

    async def complete(self, messages: list[dict], parse: Callable[[str], Answer] = str, **params) -> Answer:
        """The answer to `messages` (sent with `params`), read by `parse` (a ValueError: unreadable, asked again);
        GaveUp when the retries run out."""
        async with self.gate:  # held through the waits: a retry is still one of `concurrency` requests
            for attempt in range(self.cfg.max_retries + 1):
                await self.limiter.wait()
                try:
                    return await self.ask(messages, parse, params)
                except Exception as error:
                    if refused := guard.as_refusal(error, self.setting):
                        raise refused from None
                    if not retryable(error):
                        raise
                    if attempt == self.cfg.max_retries:
                        raise GaveUp(f"{self.setting}: no answer after {attempt + 1} tries "
                                     f"({type(error).__name__})") from error
                    self.retries += 1
                    await asyncio.sleep(retry_delay(self.cfg, attempt, error))

    async def ask(self, messages: list[dict], parse: Callable[[str], Answer], params: dict) -> Answer:
        """One request and its parsed answer."""
        self.calls += 1
        reply = await self.sdk.chat.completions.create(model=self.cfg.model, messages=messages,
                                                       max_tokens=self.cfg.max_tokens, **params)
        text = reply.choices[0].message.content or ""
        try:
            return parse(text)
        except ValueError as error:
            raise UnreadableAnswer(f"{self.setting}: {type(error).__name__} in the answer") from error
