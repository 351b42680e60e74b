"""An HTTP endpoint for a registered version: validated, size-limited requests; a health check.

    GET  /health          {"status": "ok", "model": ..., "version": ..., "task": ...}
    POST /v1/generate     {"findings": ["...", ...], "max_new_tokens": 96}  ->  {"impressions": [...], ...}
    POST /v1/report       {"images": ["<base64 PNG/JPEG>", ...], "max_new_tokens": 160}  ->  {"report": "...", ...}
                          (image models, instead of /v1/generate: one study, frontal first)

Bad requests get a 4xx naming what is wrong (413 for a body over the limit, 422 for an invalid one) and the server
stays up. Generation runs one request at a time: the model is not shared between threads.
"""

import base64
import binascii
import io
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 256_000
    max_batch: int = 32
    max_chars: int = 4_000
    max_new_tokens: int = 256
    max_images: int = 2


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
            from radreport.images import is_image

            decoded = []
            for index, data in enumerate(images):
                try:
                    raw = base64.b64decode(data, validate=True)
                except binascii.Error:
                    raw = None
                if raw is None or not is_image(io.BytesIO(raw)):
                    raise ValueError(f"images[{index}] is not a base64-encoded PNG or JPEG image")
                decoded.append(raw)
            return decoded

    return ReportRequest


def create_app(model, info: dict, limits: Limits = Limits()) -> FastAPI:
    """`model` has generate(texts, batch_size, max_new_tokens) -> texts; `info` names it in every answer."""
    app = FastAPI(title="radreport", description=__doc__)
    GenerateRequest = request_model(limits)
    one_at_a_time = threading.Lock()

    @app.middleware("http")
    async def limit_body(request: Request, call_next):
        declared = request.headers.get("content-length")
        too_big = declared is not None and declared.isdigit() and int(declared) > limits.max_body_bytes
        if not too_big and request.method == "POST":
            too_big = len(await request.body()) > limits.max_body_bytes
        if too_big:
            return JSONResponse({"detail": f"request body over {limits.max_body_bytes} bytes"}, status_code=413)
        return await call_next(request)

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok", **info}

    if getattr(model, "takes_images", False):
        ReportRequest = report_request_model(limits)

        @app.post("/v1/report")
        def report(request: ReportRequest) -> dict:
            with one_at_a_time, tempfile.TemporaryDirectory() as tmp:
                paths = [Path(tmp) / f"image-{i}" for i in range(len(request.images))]
                for path, raw in zip(paths, request.images):
                    path.write_bytes(raw)
                text = model.generate([[str(p) for p in paths]], 1, request.max_new_tokens)[0]
            return {"report": text, **info}

        return app

    @app.post("/v1/generate")
    def generate(request: GenerateRequest) -> dict:  # sync: FastAPI runs it in a worker thread
        with one_at_a_time:
            impressions = model.generate(request.findings, limits.max_batch, request.max_new_tokens)
        return {"impressions": impressions, **info}

    return app
