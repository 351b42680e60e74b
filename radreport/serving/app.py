"""An HTTP endpoint for a registered version: validated, size-limited requests; a health check.

    GET  /health          {"status": "ok", "model": ..., "version": ..., "task": ...}
    POST /v1/generate     {"findings": ["...", ...], "max_new_tokens": 96}  ->  {"impressions": [...], ...}
    POST /v1/report       {"images": ["<base64 PNG/JPEG>", ...], "max_new_tokens": 160}  ->  {"report": "...", ...}
                          (image models, instead of /v1/generate: one study, frontal first)

Bad requests get a 4xx naming what is wrong and never echoing the report text (413 for a body over the limit,
counted as it arrives; 408 for a body that has not all arrived within `body_timeout_s`; 422 for an invalid one) and
the server stays up. Generation runs one request at a time (the model is not shared between threads) behind a bounded
queue: when `max_queue` requests are waiting, the next gets 503 with Retry-After; one that waits and runs longer than
`timeout_s` gets 504 and its job is cancelled: dropped if still waiting, stopped at its next token if a completion (a
/v1/generate or /v1/report batch has no such hook: it finishes in the background and still counts against the
queue). /health answers at once, whatever is queued.
"""

import asyncio
import base64
import binascii
import concurrent.futures
import io
import json
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.exceptions import HTTPException as StarletteHTTPException

from radreport.serving import openai_api


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 256_000
    body_timeout_s: float = 30.0  # the whole body, from the end of the headers, before 408
    max_batch: int = 32
    max_chars: int = 4_000
    max_new_tokens: int = 256
    max_images: int = 2
    max_queue: int = 8          # generation requests waiting or running before 503
    timeout_s: float = 300.0    # a request's wait plus generation before 504
    registry_wait_s: float = 2.0  # an answer's wait for the registry's aliases before it uses the last ids known


class BodyTooLarge(Exception):
    """The body has passed the limit."""


class BodyLimit:
    """ASGI middleware: 413 as soon as a body passes `max_bytes`, declared or chunked (nothing past it is read); 408
    when the whole body has not arrived within `timeout_s` (a slow sender would hold its connection and buffer open)."""

    def __init__(self, app, max_bytes: int, timeout_s: float):
        self.app, self.max_bytes, self.timeout_s = app, max_bytes, timeout_s

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            return await self.refuse(scope, send, 413, f"request body over {self.max_bytes} bytes")
        try:
            body = await asyncio.wait_for(self.read(receive), self.timeout_s)
        except BodyTooLarge:
            return await self.refuse(scope, send, 413, f"request body over {self.max_bytes} bytes")
        except asyncio.TimeoutError:
            return await self.refuse(scope, send, 408, f"request body not received within {self.timeout_s:g} s")
        if body is None:
            return
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def read(self, receive) -> bytes | None:
        """The whole body, or None when the client disconnects first."""
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                raise BodyTooLarge
            more = message.get("more_body", False)
        return b"".join(chunks)

    async def refuse(self, scope, send, status: int, message: str):
        payload = json.dumps(openai_api.error_body(status, message) if scope["path"] in openai_api.PATHS else
                             {"detail": message}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"connection", b"close"),
                                (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})


class ServiceError(Exception):
    """An answer other than 200 from a route (busy, timed out): rendered in the route's error shape."""

    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers


class GenerationQueue:
    """One generation at a time in a worker thread, at most `size` admitted (waiting or running)."""

    def __init__(self, size: int, timeout_s: float):
        self.size, self.timeout_s = size, timeout_s
        self.admitted, self.seconds_per_job = 0, 5.0
        self.model_lock, self.count_lock = threading.Lock(), threading.Lock()
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=size, thread_name_prefix="generation")

    def run(self, job, cancelled: threading.Event):
        try:
            with self.model_lock:
                if cancelled.is_set():
                    return None  # answered already (504): nobody waits for it
                started = time.monotonic()
                result = job(cancelled)
                self.seconds_per_job = 0.8 * self.seconds_per_job + 0.2 * (time.monotonic() - started)
                return result
        finally:
            with self.count_lock:
                self.admitted -= 1

    def start(self, job, cancelled: threading.Event) -> concurrent.futures.Future:
        """The running (or waiting) job, or ServiceError 503 when the queue is full. `job(cancelled)` is skipped if
        `cancelled` is set before its turn, and should stop early once it is set."""
        with self.count_lock:
            if self.admitted >= self.size:
                retry = max(1, round(self.seconds_per_job * self.admitted))
                raise ServiceError(503, f"{self.admitted} requests queued; try again later", {"Retry-After": str(retry)})
            self.admitted += 1
        return self.pool.submit(self.run, job, cancelled)

    async def submit(self, job):
        """The job's result, or ServiceError 503 (queue full) / 504 (past the deadline, which cancels the job)."""
        cancelled = threading.Event()
        future = asyncio.wrap_future(self.start(job, cancelled))
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.timeout_s)
        except asyncio.TimeoutError:
            raise ServiceError(504, f"generation took longer than {self.timeout_s:g} s") from None
        finally:
            cancelled.set()  # answered, or the client has gone: a job still running is no longer wanted


def without_content(error: dict) -> dict:
    """A validation error naming the field, without the submitted input (report text); an unknown field's name is
    request content too, so it is named by where it was found."""
    loc, msg = list(error.get("loc", ())), error.get("msg", "")
    if error.get("type") == "extra_forbidden":
        loc, msg = loc[:-1], "unknown field (only the documented fields are accepted)"
    return {"loc": loc, "msg": msg, "type": error.get("type", "")}


async def validation_error(request, error: RequestValidationError) -> JSONResponse:
    """FastAPI's 422 without the submitted input, which is report text (OpenAI's 400 shape on its routes)."""
    errors = [without_content(e) for e in error.errors()]
    if request.url.path in openai_api.PATHS:
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        param = ".".join(str(p) for p in first["loc"] if p != "body") or None
        return openai_api.error(400, f"{param}: {first['msg']}" if param else first["msg"], param)
    return JSONResponse({"detail": errors}, status_code=422)


async def http_error(request, error: StarletteHTTPException) -> JSONResponse:
    """FastAPI's own refusals (a body that does not parse, nested past the JSON parser's depth) in OpenAI's shape on
    its routes."""
    if request.url.path in openai_api.PATHS:
        return openai_api.error(error.status_code, str(error.detail), headers=error.headers)
    return await http_exception_handler(request, error)


async def service_error(request, error: ServiceError) -> JSONResponse:
    if request.url.path in openai_api.PATHS:
        return openai_api.error(error.status, error.message, headers=error.headers)
    return JSONResponse({"detail": error.message}, status_code=error.status, headers=error.headers)


def request_model(limits: Limits) -> type[BaseModel]:
    class GenerateRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")
        findings: list[str] = Field(min_length=1, max_length=limits.max_batch,
                                    description="Findings texts, one impression each.")
        max_new_tokens: int = Field(96, gt=0, le=limits.max_new_tokens, description="Generation budget per text.")

        @field_validator("findings")
        @classmethod
        def texts_fit(cls, texts: list[str]) -> list[str]:
            for index, text in enumerate(texts):
                if not text.strip():
                    raise ValueError(f"findings[{index}] is empty")
                if len(text) > limits.max_chars:
                    raise ValueError(f"findings[{index}] has {len(text)} characters; the limit is {limits.max_chars}")
            return texts

    return GenerateRequest


def report_request_model(limits: Limits) -> type[BaseModel]:
    class ReportRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")
        images: list[str] = Field(min_length=1, max_length=limits.max_images,
                                  description="One study's images (frontal first), base64-encoded PNG or JPEG.")
        max_new_tokens: int = Field(160, gt=0, le=limits.max_new_tokens, description="Generation budget.")

        @field_validator("images")
        @classmethod
        def images_decode(cls, images: list[str]) -> list[bytes]:
            from radreport.vision.images import image_fault

            decoded = []
            for index, data in enumerate(images):
                try:
                    raw = base64.b64decode(data, validate=True)
                except binascii.Error:
                    raise ValueError(f"images[{index}] is not base64") from None
                fault = image_fault(io.BytesIO(raw), decode=True)
                if fault:
                    raise ValueError(f"images[{index}]: {fault}")
                decoded.append(raw)
            return decoded

    return ReportRequest


def create_app(model, info: dict, limits: Limits = Limits(), model_ids=None) -> FastAPI:
    """`model` has generate(texts, batch_size, max_new_tokens) -> texts (and for a text model .tokenizer and
    .complete(...) for the OpenAI routes, which answer to `model_ids`: a list, or a function reading the registry);
    `info` names it in every answer."""
    app = FastAPI(title="radreport", description=__doc__)
    app.add_middleware(BodyLimit, max_bytes=limits.max_body_bytes, timeout_s=limits.body_timeout_s)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(ServiceError, service_error)
    GenerateRequest = request_model(limits)
    queue = GenerationQueue(limits.max_queue, limits.timeout_s)

    @app.get("/health")
    async def health() -> dict:  # async: answered on the event loop, never behind queued generations
        return {"status": "ok", **info}

    if getattr(model, "takes_images", False):
        ReportRequest = report_request_model(limits)

        def write_and_generate(images: list[bytes], max_new_tokens: int) -> dict:
            with tempfile.TemporaryDirectory() as tmp:
                paths = [Path(tmp) / f"image-{i}" for i in range(len(images))]
                for path, raw in zip(paths, images):
                    path.write_bytes(raw)
                return {"report": model.generate([[str(p) for p in paths]], 1, max_new_tokens)[0], **info}

        @app.post("/v1/report")
        async def report(request: ReportRequest):
            return await queue.submit(lambda _: write_and_generate(request.images, request.max_new_tokens))

        return app

    @app.post("/v1/generate")
    async def generate(request: GenerateRequest):
        return await queue.submit(lambda _: {"impressions": model.generate(request.findings, limits.max_batch,
                                                                           request.max_new_tokens), **info})

    if hasattr(model, "complete"):
        version_id = f"{info['model']}@{info['version']}"
        read = model_ids if callable(model_ids) else lambda: model_ids or [version_id]
        ids = openai_api.ServedIds(read, [version_id], limits.registry_wait_s)
        openai_api.add_openai_routes(app, model, ids, limits, queue)
    return app
