"""A small OpenAI-compatible server that answers the way vLLM does, over any gen Engine.

`vllm_like_app(engine)` serves `POST /v1/chat/completions` (whole or streamed) and
`GET /v1/models` with vLLM's semantics where they matter to `OpenAIEngine`:
- `continue_final_message` with `add_generation_prompt: false`: the last message (an
  assistant's) is a prefill the model continues, and the reply holds only the new text;
  `continue_final_message` without a trailing assistant message, or together with
  `add_generation_prompt`, is a 400;
- without it a trailing assistant message is history and the model starts a new turn (gen
  engines read a trailing assistant message as a prefill, so this server leaves such history
  out);
- max_tokens (or max_completion_tokens), temperature, top_p, stop, seed; `usage` in replies;
- an unknown model is a 404.
`continue_final_message=False` makes it answer like a server without that extension (OpenAI
itself): a 400 for the unrecognised argument. `app.state.stats` counts the requests and the
most that were in flight at once, and keeps every body it received.

Run it with `tests.conftest.serving(app)`.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any, Self

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict

from gen.engines import Engine, GenerationOptions, GenerationRequest, Message

VLLM_EXTENSIONS = ("continue_final_message", "add_generation_prompt")


@dataclass
class ServerStats:
    requests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    bodies: list[dict] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __enter__(self) -> Self:
        with self.lock:
            self.requests += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        return self

    def __exit__(self, *exc: object) -> None:
        with self.lock:
            self.in_flight -= 1


class ChatBody(BaseModel):
    model_config = ConfigDict(extra="allow")  # vLLM accepts (and ignores) unknown fields

    model: str
    messages: list[dict[str, Any]]
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    temperature: float = 1.0
    top_p: float = 1.0
    stop: str | list[str] | None = None
    seed: int | None = None
    n: int = 1
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    continue_final_message: bool = False
    add_generation_prompt: bool = True


class BadRequest(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message, self.status = message, status


def error(message: str, status: int = 400) -> JSONResponse:
    kind = {400: "BadRequestError", 404: "NotFoundError"}.get(status, "InternalServerError")
    return JSONResponse({"error": {"message": message, "type": kind, "param": None,
                                   "code": status}}, status_code=status)


def text_of(content: Any) -> str:
    if isinstance(content, list):  # content parts: only text ones here
        return "".join(part.get("text", "") for part in content if part.get("type") == "text")
    return content or ""


def to_request(body: ChatBody) -> GenerationRequest:
    if body.n != 1:
        raise BadRequest("this server only returns n=1 choices")
    if body.continue_final_message and body.add_generation_prompt:
        raise BadRequest("Cannot set both `continue_final_message` and "
                         "`add_generation_prompt` to True.")
    messages = [Message(role="system" if m["role"] == "developer" else m["role"],
                        content=text_of(m.get("content"))) for m in body.messages]
    if body.continue_final_message:
        if not messages or messages[-1].role != "assistant":
            raise BadRequest("continue_final_message requires the last message to be from "
                             "the assistant")
    else:
        while messages and messages[-1].role == "assistant":  # history: a new turn starts
            messages.pop()
    if not messages:
        raise BadRequest("messages must not be empty")
    stop = [body.stop] if isinstance(body.stop, str) else (body.stop or [])
    limit = body.max_completion_tokens or body.max_tokens or 512
    options = GenerationOptions(max_new_tokens=min(limit, 4096), temperature=body.temperature,
                                top_p=body.top_p, stop=stop, seed=body.seed)
    return GenerationRequest(messages=messages, options=options)


def continuation(prefill: str, text: str) -> str:
    """vLLM returns only the new text: the engine's reply less the prefill it starts with."""
    return text[len(prefill):] if prefill and text.startswith(prefill) else text


def vllm_like_app(engine: Engine, served_model_name: str | None = None,
                  continue_final_message: bool = True, piece_delay_s: float = 0.0) -> FastAPI:
    """`piece_delay_s`: a pause before each streamed piece, as a slow model would take; the
    stream then runs on the event loop, so a client that leaves cancels it at once (a
    threadpool generator would sit suspended until collected)."""
    app = FastAPI()
    stats = app.state.stats = ServerStats()
    model_name = served_model_name or engine.model_name

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error(f"invalid request: {exc.errors()[0].get('msg', '')}")

    @app.get("/v1/models")
    def models() -> dict:
        return {"object": "list", "data": [{"id": model_name, "object": "model", "created": 0,
                                            "owned_by": "vllm", "root": model_name}]}

    @app.post("/v1/chat/completions", response_model=None)
    def chat_completions(body: ChatBody) -> JSONResponse | StreamingResponse:
        stats.bodies.append(body.model_dump(exclude_unset=True))
        if not continue_final_message:
            unknown = [name for name in VLLM_EXTENSIONS if name in body.model_fields_set]
            if unknown:
                return error(f"Unrecognized request argument supplied: {unknown[0]}")
        if body.model != model_name:
            return error(f"The model `{body.model}` does not exist.", 404)
        try:
            request = to_request(body)
        except BadRequest as exc:
            return error(exc.message, exc.status)
        completion = {"id": f"chatcmpl-{uuid.uuid4().hex}", "created": int(time.time()),
                      "model": model_name}
        if body.stream:
            usage = bool((body.stream_options or {}).get("include_usage"))
            pieces = stream(request, completion, usage)
            return StreamingResponse(slowly(pieces) if piece_delay_s else pieces,
                                     media_type="text/event-stream")
        with stats:
            result = engine.generate([request])[0]
        text = continuation(request.prefill, result.text)
        prompt_tokens = result.prompt_tokens or words(request)
        return JSONResponse({
            **completion, "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": result.finish_reason, "logprobs": None}],
            "usage": {"prompt_tokens": prompt_tokens,
                      "completion_tokens": result.completion_tokens,
                      "total_tokens": prompt_tokens + result.completion_tokens}})

    async def slowly(pieces: Iterator[str]) -> AsyncIterator[str]:
        try:
            for piece in pieces:
                await asyncio.sleep(piece_delay_s)  # a client that left cancels this wait
                yield piece
        finally:
            pieces.close()  # leaves `with stats`: the stream is no longer in flight

    def stream(request: GenerationRequest, completion: dict, usage: bool) -> Iterator[str]:
        def chunk(delta: dict, finish: str | None = None) -> str:
            data = {**completion, "object": "chat.completion.chunk",
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
            return f"data: {json.dumps(data)}\n\n"

        with stats:
            yield chunk({"role": "assistant", "content": ""})
            held, pieces = "", 0  # the engine's stream starts with the prefill: held back
            prefill = request.prefill
            for piece in engine.stream(request):
                pieces += 1
                if prefill:
                    held += piece
                    if len(held) < len(prefill):
                        continue
                    piece, prefill = continuation(prefill, held), ""
                if piece:
                    yield chunk({"content": piece})
            if prefill and continuation(prefill, held):
                yield chunk({"content": continuation(prefill, held)})
            yield chunk({}, "stop")
            if usage:
                data = {**completion, "object": "chat.completion.chunk", "choices": [],
                        "usage": {"prompt_tokens": words(request), "completion_tokens": pieces,
                                  "total_tokens": words(request) + pieces}}
                yield f"data: {json.dumps(data)}\n\n"
            yield "data: [DONE]\n\n"

    return app


def words(request: GenerationRequest) -> int:
    """A rough prompt size for engines that do not count tokens (FakeEngine)."""
    return sum(len(message.content.split()) for message in request.messages)
