"""OpenAI-compatible chat: `POST /v1/chat/completions`, `GET /v1/models`.

Any OpenAI client (the official `openai` package, LangChain's ChatOpenAI, ...) talks to the
same shop assistant as `POST /v1/chat`: same retrieval, guardrails, citations, handoff and
recording. Like `/v1/chat` it is public, since it serves the shop's shoppers: no admin key is
needed, and the bearer key an OpenAI client always sends is ignored, never checked.

How a request maps onto `ChatRequest`:
- the last message must be the user's: it is the question; earlier user and assistant turns
  are the history (the last 20, each cut to the question's length limit);
- system and developer messages are ignored, never sent to the model: a caller cannot replace
  the shop's system prompt or its rules. `shopwright.ignored` says they were dropped;
- `max_completion_tokens` (or the older `max_tokens`) bounds the model's answer, clamped to
  what ChatRequest allows (8..400); citations and product suggestions follow the answer;
- the assistant decodes greedily so its grounding checks are reproducible: `temperature`,
  `top_p` and `seed` are validated but do not change the answer (named in `shopwright.ignored`);
- what it cannot do is refused with 400: n > 1, tools and functions, tool messages, stop
  strings, logprobs, logit bias, penalties, non-text output or input, JSON response formats.
  Other optional fields the official client may send (user, metadata, store, ...) are ignored.

Replies are `chat.completion` / `chat.completion.chunk` objects plus a top-level `shopwright`
object (citations, suggested products, intent, handoff) that OpenAI clients keep as an extra
field; when streaming it rides on the last chunk, the one with `finish_reason` ("stop", or
"content_filter" when the guard refused; never "length": the chain does not report it).
`usage` counts the caller's conversation and the reply as sent (sources included) with the
served model's tokenizer, not the passages and system prompt the assistant adds. Errors have
OpenAI's shape `{"error": {"message", "type", "param", "code"}}`.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterator
from functools import cache
from itertools import chain
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException

from gen.chat import ChatReply, ChatRequest, ChatTurn
from gen.chat_guard import REFUSAL
from shop.errors import ShopwrightError
from ui.api.deps import Context
from ui.api.limits import RateLimited, rate_limit
from ui.metrics import timed_first_piece

ALIAS = "shopwright"
log = logging.getLogger(__name__)
MAX_HISTORY = 20


class OpenAIError(Exception):
    def __init__(self, status: int, message: str, param: str | None = None,
                 code: str | None = None, type: str = "invalid_request_error"):
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.type = (
            status, message, param, code, type)

    def response(self) -> JSONResponse:
        return JSONResponse({"error": self.body()}, status_code=self.status)

    def body(self) -> dict:
        return {"message": self.message, "type": self.type, "param": self.param,
                "code": self.code}


def from_shopwright(exc: ShopwrightError) -> OpenAIError:
    status = exc.status_code
    kind = ("authentication_error" if status == 401 else
            "invalid_request_error" if status < 500 else "server_error")
    return OpenAIError(status, str(exc), type=kind, code=type(exc).__name__)


def _validation_error(error: dict) -> OpenAIError:
    if error.get("type") == "json_invalid":
        detail = (error.get("ctx") or {}).get("error", "")
        return OpenAIError(400, f"the body is not valid JSON: {detail}".rstrip(": "),
                           None, "invalid_json")
    param = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or None
    return OpenAIError(400, f"{param or 'body'}: {error.get('msg', 'invalid value')}", param,
                       "invalid_value")


class OpenAIRoute(APIRoute):
    """Answers every failure of these routes in OpenAI's error shape, not FastAPI's."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def openai_errors(request: Request) -> Response:
            try:
                if request.method == "POST":
                    request = await _bounded(request)
                return await handler(request)
            except OpenAIError as exc:
                return exc.response()
            except RateLimited as exc:
                response = OpenAIError(429, str(exc.detail), type="rate_limit_error",
                                       code="rate_limit_exceeded").response()
                response.headers.update(exc.headers or {})
                return response
            except RequestValidationError as exc:
                return _validation_error(exc.errors()[0]).response()
            except HTTPException as exc:
                return OpenAIError(exc.status_code, str(exc.detail)).response()
            except ShopwrightError as exc:
                return from_shopwright(exc).response()

        return openai_errors


async def _bounded(request: Request) -> Request:
    """Read the body with a size cap (also for chunked uploads with no Content-Length)."""
    limit = request.app.state.context.settings.max_request_bytes
    body = b""
    async for part in request.stream():
        body += part
        if len(body) > limit:
            raise OpenAIError(413, f"request body over {limit} bytes", code="too_large")

    async def replay() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(request.scope, replay)


router = APIRouter(prefix="/v1", tags=["openai"], route_class=OpenAIRoute)


# ---- request ---------------------------------------------------------------------------------


class _Lenient(BaseModel):
    # strict: "5" is not a number and "true" not a boolean; unknown fields are ignored
    model_config = ConfigDict(extra="ignore", strict=True)


class ContentPart(_Lenient):
    type: str
    text: str | None = None


class InMessage(_Lenient):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None
    tool_calls: list[Any] | None = None
    function_call: dict[str, Any] | None = None


class StreamOptions(_Lenient):
    include_usage: bool = False


class CompletionBody(_Lenient):
    model: str = Field(min_length=1, max_length=200)
    messages: list[InMessage] = Field(min_length=1, max_length=200)
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, ge=0.0, le=1.0)
    seed: int | None = None
    n: int | None = Field(default=None, ge=1)
    stop: str | list[str] | None = None
    tools: list[Any] | None = None
    functions: list[Any] | None = None
    tool_choice: str | dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    logit_bias: dict[str, Any] | None = None
    presence_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    frequency_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    modalities: list[str] | None = None
    audio: dict[str, Any] | None = None
    prediction: dict[str, Any] | None = None
    web_search_options: dict[str, Any] | None = None


def _unsupported(param: str, message: str) -> OpenAIError:
    return OpenAIError(400, message, param, "unsupported_parameter")


def refuse_unsupported(body: CompletionBody) -> None:
    if body.n not in (None, 1):
        raise _unsupported("n", "only one choice per request (n=1) is supported")
    if body.tools or body.functions:
        raise _unsupported("tools" if body.tools else "functions",
                           "tool and function calling is not supported")
    if body.tool_choice not in (None, "none", "auto"):
        raise _unsupported("tool_choice", "tool and function calling is not supported")
    if body.stop:
        raise _unsupported("stop", "custom stop sequences are not supported")
    if (body.response_format or {}).get("type", "text") != "text":
        raise _unsupported("response_format", "only text responses are supported")
    if body.logprobs or body.top_logprobs:
        raise _unsupported("logprobs", "logprobs are not supported")
    if body.logit_bias:
        raise _unsupported("logit_bias", "logit_bias is not supported")
    for name in ("presence_penalty", "frequency_penalty"):
        if getattr(body, name):
            raise _unsupported(name, f"{name} is not supported")
    if body.audio or (body.modalities and set(body.modalities) != {"text"}):
        raise _unsupported("modalities", "only text output is supported")
    if body.prediction:
        raise _unsupported("prediction", "predicted outputs are not supported")
    if body.web_search_options is not None:
        raise _unsupported("web_search_options", "web search is not supported")


def _text(message: InMessage, index: int) -> str:
    if message.role in ("tool", "function") or message.tool_calls or message.function_call:
        raise _unsupported(f"messages.{index}", "tool and function messages are not supported")
    if isinstance(message.content, list):
        for part in message.content:
            if part.type != "text" or part.text is None:
                raise _unsupported(f"messages.{index}.content",
                                   f"only text content is supported, not {part.type!r}")
        return "".join(part.text or "" for part in message.content)
    return message.content or ""


@cache
def _limits() -> tuple[int, int, int, int]:
    """ChatRequest's bounds: (min tokens, max tokens, default tokens, max message chars)."""
    props = ChatRequest.model_json_schema()["properties"]
    tokens = props["max_new_tokens"]
    return (tokens["minimum"], tokens["maximum"], tokens["default"],
            props["message"]["maxLength"])


def to_chat_request(body: CompletionBody) -> tuple[ChatRequest, list[str]]:
    """The OpenAI conversation as our ChatRequest, and the names of what was ignored."""
    ignored: list[str] = []
    turns: list[tuple[str, str, int]] = []
    for index, message in enumerate(body.messages):
        text = _text(message, index)
        if message.role in ("system", "developer"):
            ignored.append(f"{message.role} message")
            continue
        turns.append((message.role, text, index))
    if not turns or turns[-1][0] != "user":
        raise OpenAIError(400, "the last message must come from the user", "messages",
                          "invalid_value")
    _, question, index = turns[-1]
    low, high, default, max_chars = _limits()
    if not question.strip():
        raise OpenAIError(400, "the last user message is empty", f"messages.{index}.content",
                          "invalid_value")
    if len(question) > max_chars:
        raise OpenAIError(400, f"the last user message is over {max_chars} characters",
                          f"messages.{index}.content", "string_above_max_length")
    history = [ChatTurn(role=role, content=text[:max_chars])  # type: ignore[arg-type]
               for role, text, _ in turns[:-1] if text.strip()][-MAX_HISTORY:]
    wanted = body.max_completion_tokens or body.max_tokens or default
    for name in ("temperature", "top_p", "seed"):
        if getattr(body, name) is not None:
            ignored.append(name)
    try:
        request = ChatRequest(message=question, history=history,
                              max_new_tokens=min(max(wanted, low), high))
    except ValidationError as exc:
        raise OpenAIError(400, str(exc.errors()[0]["msg"]), "messages", "invalid_value") from None
    return request, sorted(set(ignored), key=ignored.index)


# ---- response --------------------------------------------------------------------------------


@cache
def _started() -> int:
    return int(time.time())


def served_models(context: Any) -> list[str]:
    return [ALIAS, context.settings.llm_model]


def _model_card(name: str) -> dict:
    return {"id": name, "object": "model", "created": _started(), "owned_by": ALIAS}


def _tokenizer(engine: Any) -> Any:
    """The Hugging Face tokenizer behind an engine (through wrappers), if it has one."""
    while engine is not None:
        tokenizer = getattr(getattr(engine, "llm", None), "tokenizer", None)
        if tokenizer is not None:
            return tokenizer
        engine = getattr(engine, "inner", None)
    return None


def count_tokens(engine: Any, texts: list[str]) -> int:
    tokenizer = _tokenizer(engine)
    if tokenizer is None:  # engines without a local tokenizer: words and punctuation
        return sum(len(re.findall(r"\w+|[^\w\s]", text)) for text in texts)
    return sum(len(tokenizer.encode(text, add_special_tokens=False)) for text in texts)


def usage(engine: Any, request: ChatRequest, reply: ChatReply) -> dict:
    prompt = count_tokens(engine, [request.message] + [t.content for t in request.history])
    completion = count_tokens(engine, [reply.answer])
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion}


def finish_reason(reply: ChatReply) -> str:
    return "content_filter" if reply.answer.startswith(REFUSAL) else "stop"


def extras(reply: ChatReply, ignored: list[str]) -> dict:
    return {**{k: v for k, v in reply.as_dict().items() if k != "answer"}, "ignored": ignored}


class Completion:
    """Ids and envelope shared by the chunks (or the one object) of one completion."""

    def __init__(self, model: str):
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.model = model

    def envelope(self, kind: str) -> dict:
        return {"id": self.id, "object": kind, "created": self.created, "model": self.model,
                "system_fingerprint": None}

    def whole(self, reply: ChatReply, used: dict, ignored: list[str]) -> dict:
        return {**self.envelope("chat.completion"),
                "choices": [{"index": 0, "logprobs": None, "finish_reason": finish_reason(reply),
                             "message": {"role": "assistant", "content": reply.answer,
                                         "refusal": None}}],
                "usage": used, ALIAS: extras(reply, ignored)}

    def chunk(self, delta: dict, finish: str | None = None, **more: Any) -> str:
        data = {**self.envelope("chat.completion.chunk"),
                "choices": [{"index": 0, "delta": delta, "logprobs": None,
                             "finish_reason": finish}], **more}
        return f"data: {json.dumps(data)}\n\n"


# ---- routes ----------------------------------------------------------------------------------


@router.get("/models")
def list_models(context: Context) -> dict:
    """The assistant under its alias and under the name of the LLM that serves it."""
    return {"object": "list", "data": [_model_card(name) for name in served_models(context)]}


@router.get("/models/{model:path}")
def get_model(model: str, context: Context) -> dict:
    if model not in served_models(context):
        raise OpenAIError(404, f"the model {model!r} does not exist", "model", "model_not_found")
    return _model_card(model)


@router.post("/chat/completions", response_model=None, dependencies=[rate_limit("chat")])
def chat_completions(body: CompletionBody, context: Context,
                     http: Request) -> dict | StreamingResponse:
    """The shop assistant in the OpenAI Chat Completions format (see the module docstring)."""
    if body.model not in served_models(context):
        raise OpenAIError(404, f"the model {body.model!r} does not exist; use one of "
                          f"{', '.join(served_models(context))}", "model", "model_not_found")
    refuse_unsupported(body)
    request, ignored = to_chat_request(body)
    service = context.generation
    completion = Completion(context.settings.llm_model)
    if not body.stream:
        reply = service.chat(request)
        return completion.whole(reply, usage(service.engine, request, reply), ignored)
    items = timed_first_piece(http, service.chat_stream(request))
    # the first piece comes before the headers, so that early failures get a real status
    first = next(items)
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    more = {"usage": None} if include_usage else {}

    def events() -> Iterator[str]:
        reply = None
        yield completion.chunk({"role": "assistant", "content": ""}, **more)
        try:
            for item in chain([first], items):
                if isinstance(item, ChatReply):
                    reply = item
                elif item:
                    yield completion.chunk({"content": item}, **more)
        except Exception as exc:  # the headers are sent: report it in the stream
            if not isinstance(exc, ShopwrightError):
                log.exception("chat completion stream failed")
            error = (from_shopwright(exc) if isinstance(exc, ShopwrightError) else
                     OpenAIError(500, "internal error", type="server_error"))
            yield f"data: {json.dumps({'error': error.body()})}\n\n"
            yield "data: [DONE]\n\n"
            return
        assert reply is not None  # the assistant always ends with its ChatReply
        yield completion.chunk({}, finish_reason(reply), **more, **{ALIAS: extras(reply, ignored)})
        if include_usage:  # OpenAI's extra last chunk: no choices, the whole usage
            last = {**completion.envelope("chat.completion.chunk"), "choices": [],
                    "usage": usage(service.engine, request, reply)}
            yield f"data: {json.dumps(last)}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache"})
