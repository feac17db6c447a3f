"""OpenAI-compatible chat: `POST /v1/chat/completions`, `GET /v1/models`.

Any OpenAI client (the official `openai` package, LangChain's ChatOpenAI, ...) talks to the
same shop assistant as `POST /v1/chat`: same retrieval, guardrails, citations, handoff and
recording. Like `/v1/chat` it is public, since it serves the shop's shoppers: a widget or admin
key gets its own rate-limit budget, any other api_key counts as none (unless
SHOPWRIGHT_PUBLIC_API is off). `shopwright.session_id` in the request (`extra_body`) continues
a server-side conversation; every reply names its session in `shopwright.session_id`.

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
field; when streaming it rides on the last chunk, the one with `finish_reason` ("stop";
"length" when the model's token budget ended the answer; "content_filter" when the guard
refused). When the model wrote the answer, `usage` is what it read and wrote (its whole prompt:
system, passages, question); an answer quoted from the shop's pages counts the caller's
conversation and the reply as sent, in the served model's tokens. Errors have
OpenAI's shape `{"error": {"message", "type", "param", "code"}}`; a busy model (no generation
slot within the queue deadline) answers 503 with `Retry-After`.

The wire types are in ui/api/openai_wire.py, the error shape in ui/api/openai_errors.py. The
chat route is async end to end: it awaits the model, so waiting chats hold no threads.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import aclosing

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from gen.tasks.chat import ChatReply
from shop.errors import ShopwrightError
from ui.api.conversation import remember, resume
from ui.api.deps import CallerDep, Context, Public
from ui.api.limits import rate_limit
from ui.api.openai_errors import OpenAIError, OpenAIErrorBody, OpenAIRoute, from_shopwright
from ui.api.openai_wire import (
    ALIAS,
    Completion,
    CompletionBody,
    extras,
    finish_reason,
    model_card,
    refuse_unsupported,
    served_models,
    to_chat_request,
    usage,
)
from ui.metrics import timed_first_piece

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["openai"], route_class=OpenAIRoute)


# OpenAI's error shape (ui/api/openai_errors.py)
OPENAI_ERRORS = {code: {"model": OpenAIErrorBody, "description": text} for code, text in (
    (400, "Unsupported or malformed request"), (401, "Unknown key (public API off)"),
    (403, "The key's scope or origin does not reach this"), (404, "No such model"),
    (413, "Request body too large"), (422, "Invalid request"),
    (429, "Rate limit exceeded; see Retry-After"), (503, "Busy; see Retry-After"))}


@router.get("/models", dependencies=[Public], responses=OPENAI_ERRORS)
def list_models(context: Context) -> dict:
    """The assistant under its alias and under the name of the LLM that serves it."""
    return {"object": "list", "data": [model_card(name) for name in served_models(context)]}


@router.get("/models/{model:path}", dependencies=[Public], responses=OPENAI_ERRORS)
def get_model(model: str, context: Context) -> dict:
    if model not in served_models(context):
        raise OpenAIError(404, f"the model {model!r} does not exist", "model", "model_not_found")
    return model_card(model)


@router.post("/chat/completions", response_model=None,
             dependencies=[Public, rate_limit("chat")],
             responses={**OPENAI_ERRORS, 200: {"content": {"application/json": {},
                                                            "text/event-stream": {}}}})
async def chat_completions(body: CompletionBody, context: Context, http: Request,
                           caller: CallerDep) -> dict | StreamingResponse:
    """The shop assistant in the OpenAI Chat Completions format (see the module docstring)."""
    if body.model not in served_models(context):
        raise OpenAIError(404, f"the model {body.model!r} does not exist; use one of "
                          f"{', '.join(served_models(context))}", "model", "model_not_found")
    refuse_unsupported(body)
    request, ignored = to_chat_request(body)
    session_id, request, asker = await resume(context, caller, request)
    service = context.generation
    completion = Completion(context.settings.llm_model)
    if not body.stream:
        reply = await service.achat(request, asker=asker)
        await remember(context, session_id, request, reply)
        return completion.whole(reply, usage(service.engine, request, reply), ignored)
    items = timed_first_piece(http, service.achat_stream(request, asker=asker))
    # the first piece comes before the headers, so that early failures (a busy model) get a
    # real status
    first = await anext(items)
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    more = {"usage": None} if include_usage else {}

    async def events() -> AsyncIterator[str]:
        reply = first if isinstance(first, ChatReply) else None
        if reply is not None:
            await remember(context, session_id, request, reply)
        yield completion.chunk({"role": "assistant", "content": ""}, **more)
        if first and not reply:
            yield completion.chunk({"content": first}, **more)
        try:
            # closed when the client goes away: its request leaves the batch
            async with aclosing(items):
                async for item in items:
                    if isinstance(item, ChatReply):
                        reply = item
                        await remember(context, session_id, request, reply)
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
