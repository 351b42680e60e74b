"""The OpenAI wire format for a served text model: GET /v1/models, POST /v1/chat/completions, POST /v1/completions.

The model is a task model, not a chat model: the last user turn (or the completion prompt) is the task's input (a
findings text for findings_to_impression), the task's prompt template is applied to it as in training, and other
turns are ignored. `temperature` defaults to 0 (greedy: a report model should answer the same findings the same way),
not OpenAI's 1. `response_format` json_schema / json_object is enforced by constrained decoding (radreport.inference.constrained):
the answer is valid JSON for the schema unless max_tokens cuts it short (finish_reason "length"). `n` is 1; tools and
logprobs are refused with OpenAI's error shape rather than ignored. `stream: true` sends server-sent events as the
tokens are generated.
"""

import asyncio
import concurrent.futures
import json
import threading
import time
import uuid
from typing import Literal, Optional, Union

from fastapi import FastAPI
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from radreport.inference.patterns import ChecksBusy, PatternCheck

PATHS = ("/v1/chat/completions", "/v1/completions", "/v1/models")


def error_body(status: int, message: str, param: str | None = None, code: str | None = None) -> dict:
    """OpenAI's error shape: client errors are invalid_request_error, the rest server_error."""
    kind = "invalid_request_error" if 400 <= status < 500 else "server_error"
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def error(status: int, message: str, param: str | None = None, code: str | None = None,
          headers: dict | None = None) -> JSONResponse:
    return JSONResponse(error_body(status, message, param, code), status_code=status, headers=headers)


class ServedIds:
    """The ids a model answers to, as `read` gives them (the registry's aliases: served_ids) in a thread of its own:
    an answer waits at most `wait_s` for a read, then uses the last ids known (first `known`), so a locked or
    unreachable registry never holds up a request, nor, by blocking the event loop, /health. One read at a time."""

    def __init__(self, read, known: list[str], wait_s: float):
        self.read, self.known, self.wait_s = read, known, wait_s
        self.reading = self.start_reading()

    def start_reading(self) -> concurrent.futures.Future:
        """A read in a daemon thread (a hung registry must not hold up the server's exit); done when it ends."""
        done = concurrent.futures.Future()

        def read():
            try:
                self.known = list(self.read())
            except Exception:  # noqa: BLE001 - whatever the registry raises, the last ids known still hold
                pass
            finally:
                done.set_result(None)

        threading.Thread(target=read, name="registry", daemon=True).start()
        return done

    async def __call__(self) -> list[str]:
        if self.reading.done():
            self.reading = self.start_reading()
        try:
            await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(self.reading)), self.wait_s)
        except asyncio.TimeoutError:
            pass
        return self.known


class Cancelled(Exception):
    """Raised at the next token of a generation whose request has gone (past its deadline, or the client left)."""


class Watched:
    """A transformers streamer (put, end) that stops the generation it is given to, by raising Cancelled at the next
    token, once `cancelled` is set; the tokens go on to `inner` (a stream's TextIteratorStreamer) if there is one."""

    def __init__(self, cancelled: threading.Event, inner=None):
        self.cancelled, self.inner = cancelled, inner

    def put(self, value) -> None:
        if self.cancelled.is_set():
            raise Cancelled
        if self.inner is not None:
            self.inner.put(value)

    def end(self) -> None:
        if self.inner is not None:
            self.inner.end()


def sampling_fields(limits):
    class Sampling(BaseModel):
        model_config = ConfigDict(extra="ignore")  # clients send fields of their own (user, stream_options, ...)
        model: str = Field(description="A served id (GET /v1/models).")
        max_tokens: Optional[int] = Field(None, gt=0, le=limits.max_new_tokens)
        max_completion_tokens: Optional[int] = Field(None, gt=0, le=limits.max_new_tokens)
        temperature: float = Field(0.0, ge=0, le=2)
        top_p: float = Field(1.0, gt=0, le=1)
        stop: Union[str, list[str], None] = Field(None, validate_default=True)
        n: Literal[1] = 1
        stream: bool = False
        stream_options: Optional[dict] = None
        seed: Optional[int] = Field(None, ge=0, lt=2**63)
        response_format: Optional[dict] = None
        logprobs: Optional[bool] = None
        tools: Optional[list] = None

        @field_validator("stop")
        @classmethod
        def few_stops(cls, stop):
            stops = [stop] if isinstance(stop, str) else stop or []
            if len(stops) > 4 or not all(0 < len(s) <= 64 for s in stops):
                raise ValueError("stop holds up to 4 strings of 1-64 characters")  # matching costs vocab x length
            return stops

        @field_validator("response_format")
        @classmethod
        def enforceable(cls, value):
            if not value or value.get("type") == "text":
                return None
            if value.get("type") == "json_object":
                return {"type": "object"}
            schema = (value.get("json_schema") or {}).get("schema") if value.get("type") == "json_schema" else None
            if not isinstance(schema, dict):
                raise ValueError("response_format is {type: text}, {type: json_object} or {type: json_schema, "
                                 "json_schema: {name, schema}}")
            return schema  # whether it can be enforced is checked apart from the event loop: schema_refused

        @field_validator("logprobs", "tools")
        @classmethod
        def unsupported(cls, value, info):
            if value:
                raise ValueError(f"{info.field_name} is not served")
            return value

        def budget(self, default: int) -> int:
            return self.max_completion_tokens or self.max_tokens or min(default, limits.max_new_tokens)

    return Sampling


def user_text(messages: list) -> str:
    """The last user turn's text (a string, or the text parts of a content list); ValueError otherwise."""
    users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    if not users:
        raise ValueError("needs a user message holding the findings")
    content = users[-1].get("content")
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict) and p.get("type", "text") == "text"]
        content = "".join(parts) if parts and all(isinstance(p, str) for p in parts) else None
    if not isinstance(content, str):
        raise ValueError("the user message's content must be text (a string or text parts)")
    return content


def request_models(limits):
    Sampling = sampling_fields(limits)

    def fits(text: str, where: str) -> str:
        if not text.strip():
            raise ValueError(f"{where} is empty")
        if len(text) > limits.max_chars:
            raise ValueError(f"{where} has {len(text)} characters; the limit is {limits.max_chars}")
        return text

    class ChatRequest(Sampling):
        messages: list[dict] = Field(min_length=1)

        @field_validator("messages")
        @classmethod
        def has_user_turn(cls, messages):
            fits(user_text(messages), "the user message")
            return messages

        @property
        def text(self) -> str:
            return user_text(self.messages)

    class CompletionRequest(Sampling):
        prompt: Union[str, list[str]]

        @field_validator("prompt")
        @classmethod
        def one_prompt(cls, prompt):
            prompts = [prompt] if isinstance(prompt, str) else prompt
            if len(prompts) != 1:
                raise ValueError("one prompt per request")
            fits(prompts[0], "prompt")
            return prompts[0]

        @property
        def text(self) -> str:
            return self.prompt

    return ChatRequest, CompletionRequest


def usage(done) -> dict:
    return {"prompt_tokens": done.prompt_tokens, "completion_tokens": done.completion_tokens,
            "total_tokens": done.prompt_tokens + done.completion_tokens}


def parser_refusal(schema: dict) -> str | None:
    from radreport.inference.constrained import SchemaRefused, json_parser

    try:
        json_parser(schema)
    except SchemaRefused as refused:
        return str(refused)
    return None


def add_openai_routes(app: FastAPI, model, ids_now: ServedIds, limits, queue) -> None:
    """Routes for `model` (with .tokenizer and .complete(text, max_new_tokens, temperature, top_p, stop, seed,
    streamer, json_schema)), answering to the ids `await ids_now()` gives; generation goes through the service's
    queue."""
    ChatRequest, CompletionRequest = request_models(limits)
    created = int(time.time())
    pattern_check = PatternCheck()

    async def schema_refused(schema: dict) -> JSONResponse | None:
        """400 for a schema constrained decoding cannot enforce, 503 while too many are being checked. Its patterns
        are compiled in a child process first: building the parser (here, then in the worker that holds the model)
        compiles some of them, and one pattern can take hours."""
        try:
            why = await pattern_check.refusal(schema) or await asyncio.to_thread(parser_refusal, schema)
        except ChecksBusy:
            return error(503, "too many response_format schemas are being checked; try again later",
                         headers={"Retry-After": "1"})
        return error(400, f"response_format: {why}", "response_format") if why else None

    @app.get("/v1/models")
    async def models() -> dict:
        return {"object": "list", "data": [{"id": i, "object": "model", "created": created, "owned_by": "radreport"}
                                           for i in await ids_now()]}

    def run(request, cancelled: threading.Event, streamer=None):
        watched = Watched(cancelled, streamer)
        try:
            return model.complete(request.text, request.budget(96), request.temperature, request.top_p,
                                  request.stop, request.seed, watched, request.response_format)
        except Cancelled:
            return None  # its request has been answered already
        finally:
            watched.end()  # transformers ends it only on success: a failed job must not leave a reader waiting

    async def answer(request, chat: bool):
        served = await ids_now()
        if request.model not in served:
            return error(404, f"the model is not served here; GET /v1/models lists {served}", "model",
                         "model_not_found")
        if request.response_format is not None:
            refused = await schema_refused(request.response_format)
            if refused:
                return refused
        kind, prefix = ("chat.completion", "chatcmpl") if chat else ("text_completion", "cmpl")
        ident = f"{prefix}-{uuid.uuid4().hex[:24]}"
        if request.stream:
            return await stream(request, chat, kind, ident)
        done = await queue.submit(lambda cancelled: run(request, cancelled))
        choice = ({"index": 0, "message": {"role": "assistant", "content": done.text}} if chat else
                  {"index": 0, "text": done.text, "logprobs": None})
        return {"id": ident, "object": kind, "created": int(time.time()), "model": request.model,
                "choices": [{**choice, "finish_reason": done.finish_reason}], "usage": usage(done)}

    async def stream(request, chat: bool, kind: str, ident: str):
        from queue import Empty as StreamerTimeout

        from transformers import TextIteratorStreamer

        streamer = TextIteratorStreamer(model.tokenizer, skip_prompt=True, skip_special_tokens=True,
                                        timeout=limits.timeout_s)
        cancelled = threading.Event()
        finished = queue.start(lambda job_cancelled: run(request, job_cancelled, streamer), cancelled)  # or 503
        loop = asyncio.get_running_loop()

        def error_event(message: str) -> str:
            return f"data: {json.dumps(error_body(500, message))}\n\n"

        def chunk(choices: list[dict], **extra) -> str:
            body = {"id": ident, "object": f"{kind}.chunk" if chat else kind, "created": int(time.time()),
                    "model": request.model, "choices": choices, **extra}
            return f"data: {json.dumps(body)}\n\n"

        def event(delta: Optional[dict], finish: Optional[str] = None) -> str:
            if chat:
                return chunk([{"index": 0, "delta": delta or {}, "finish_reason": finish}])
            return chunk([{"index": 0, "text": (delta or {}).get("content", ""), "logprobs": None,
                           "finish_reason": finish}])

        async def events():
            if chat:
                yield event({"role": "assistant", "content": ""})
            held, sent, stopped = "", False, False
            keep = max((len(s) for s in request.stop), default=1) - 1  # a stop sequence may arrive in pieces
            pieces, deadline = iter(streamer), loop.time() + limits.timeout_s
            while not stopped:
                try:
                    piece = await asyncio.wait_for(loop.run_in_executor(None, next, pieces, None),
                                                   max(deadline - loop.time(), 0.001))
                except (asyncio.TimeoutError, StreamerTimeout):
                    yield error_event(f"generation took longer than {limits.timeout_s:g} s")
                    return
                if piece is None:
                    break
                held = (held + piece) if sent else (held + piece).lstrip()
                cut = [i for i in (held.find(s) for s in request.stop) if i >= 0]
                if cut:
                    held, stopped = held[:min(cut)], True
                ready = held if stopped else held[:max(len(held) - keep, 0)]
                if ready:
                    sent, held = True, held[len(ready):]
                    yield event({"content": ready})
            if held:
                yield event({"content": held})
            try:
                done = await asyncio.wrap_future(finished)
            except Exception as failure:  # noqa: BLE001 - the stream has started: report in-band, OpenAI-style
                yield error_event(f"generation failed ({type(failure).__name__})")
                return
            yield event(None, done.finish_reason)
            if (request.stream_options or {}).get("include_usage"):
                yield chunk([], usage=usage(done))
            yield "data: [DONE]\n\n"

        async def events_then_stop():
            try:
                async for data in events():
                    yield data
            finally:
                cancelled.set()  # the stream ended, past its deadline or with the client gone: stop generating

        return StreamingResponse(events_then_stop(), media_type="text/event-stream")

    @app.post("/v1/chat/completions")
    async def chat_completions(request: ChatRequest):
        return await answer(request, chat=True)

    @app.post("/v1/completions")
    async def completions(request: CompletionRequest):
        return await answer(request, chat=False)
