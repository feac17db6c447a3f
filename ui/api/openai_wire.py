"""The wire format of `/v1/chat/completions`: the request body, how it maps onto our
`ChatRequest` (and what is refused), and the `chat.completion` objects and chunks sent back.
See ui/api/openai_compat.py for the rules."""

from __future__ import annotations

import json
import re
import time
import uuid
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gen.checks.chat_guard import REFUSAL
from gen.tasks.chat_messages import ChatReply, ChatRequest, ChatTurn
from gen.tasks.chat_words import variants
from ui.api.openai_errors import OpenAIError

ALIAS = "shopwright"
MAX_HISTORY = 20


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


class ShopwrightOptions(_Lenient):
    """The `shopwright` extension field (`extra_body={"shopwright": {...}}` in the client)."""

    session_id: str | None = Field(default=None, min_length=1, max_length=64)


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
    shopwright: ShopwrightOptions | None = None


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
                              max_new_tokens=min(max(wanted, low), high),
                              session_id=body.shopwright.session_id if body.shopwright else None)
    except ValidationError as exc:
        raise OpenAIError(400, str(exc.errors()[0]["msg"]), "messages", "invalid_value") from None
    return request, sorted(set(ignored), key=ignored.index)


# ---- response --------------------------------------------------------------------------------


@cache
def _started() -> int:
    return int(time.time())


def served_models(context: Any) -> list[str]:
    return [ALIAS, context.settings.llm_model]


def model_card(name: str) -> dict:
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
    """The model's own counts when it wrote the answer (its whole prompt: system, passages,
    history, question); else, for an answer quoted from the shop's pages, the conversation and
    the reply as sent, in the served model's tokens."""
    if reply.prompt_tokens:
        prompt, completion = reply.prompt_tokens, reply.completion_tokens
    else:
        prompt = count_tokens(engine, [request.message] + [t.content for t in request.history])
        completion = count_tokens(engine, [reply.answer])
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion}


def finish_reason(reply: ChatReply) -> str:
    if reply.answer.startswith(tuple(variants(REFUSAL))):  # in the shop's language
        return "content_filter"
    return "length" if reply.finish_reason == "length" else "stop"


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
