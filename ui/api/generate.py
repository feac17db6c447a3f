"""Generation routes: ad copy, email previews, and the shop assistant chat (streaming)."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse

from gen.tasks.ad_copy import CopyOptions
from gen.tasks.chat import ChatReply, ChatRequest
from shop.errors import Busy, ShopwrightError
from ui.api.conversation import remember, resume
from ui.api.deps import Admin, CallerDep, Context, Public
from ui.api.errors import errors
from ui.api.limits import rate_limit
from ui.metrics import timed_first_piece

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["generation"])


@router.post("/copy", dependencies=[Admin, rate_limit("copy")],
             responses=errors(400, 401, 403, 404, 413, 422, 429, 503))
def copy(options: CopyOptions, context: Context) -> dict:
    """N distinct ad variants per product for a channel; every variant is stored as a draft."""
    return context.generation.copy(options)


@router.get("/emails/{customer_id}/preview", dependencies=[Admin], response_model=None,
            responses={**errors(401, 403, 404, 422, 503), 200: {"content": {
                "application/json": {}, "text/html": {}, "message/rfc822": {}}}})
def email_preview(
    customer_id: str,
    context: Context,
    campaign_id: str | None = None,
    format: Annotated[str, Query(pattern="^(json|html|eml)$")] = "json",
) -> dict | Response:
    """The personalized email for one customer: JSON, the HTML part, or the whole .eml."""
    draft = context.generation.email_preview(customer_id, campaign_id)
    if format == "html":
        return Response(draft.html, media_type="text/html")
    if format == "eml":
        message = draft.to_message(context.settings)
        return Response(bytes(message), media_type="message/rfc822", headers={
            "Content-Disposition": f'attachment; filename="{customer_id}.eml"'})
    return draft.as_dict()


@router.post("/chat", response_model=None, dependencies=[Public, rate_limit("chat")],
             responses={**errors(400, 401, 403, 413, 422, 429, 503), 200: {"content": {
                 "application/json": {}, "text/event-stream": {}}}})
async def chat(request: ChatRequest, context: Context, http: Request, caller: CallerDep,
               stream: bool = False) -> dict | StreamingResponse:
    """The shop assistant. With `stream=true`: server-sent events, one per guarded piece of
    text (`{"delta": ...}`), then one with the whole reply (`{"reply": {...}}`); a failure
    after the first piece ends the stream with `{"error": {"status": ..., "detail": ...}}`
    instead (the status it would have answered with before the headers). Async end to
    end: a waiting chat holds no thread. A busy model answers 503 with `Retry-After`. The
    conversation is kept on the server: send the reply's `session_id` with the next
    question (ui/api/conversation.py)."""
    service = context.generation
    session_id, request, asker = await resume(context, caller, request)
    if not stream:
        reply = await service.achat(request, asker=asker)
        await remember(context, session_id, request, reply)
        return reply.as_dict()
    items = timed_first_piece(http, service.achat_stream(request, asker=asker))
    first = await anext(items)  # before the headers, so a busy model gets a real status

    async def event(item: str | ChatReply) -> str:
        if isinstance(item, ChatReply):
            await remember(context, session_id, request, item)
            return f"data: {json.dumps({'reply': item.as_dict()})}\n\n"
        return f"data: {json.dumps({'delta': item})}\n\n"

    async def events() -> AsyncIterator[str]:
        try:
            yield await event(first)
            async with aclosing(items):  # closed when the client goes away: it leaves the batch
                async for item in items:
                    yield await event(item)
        except Exception as exc:  # noqa: BLE001 - the headers are sent: end with an error event
            yield stream_error(exc)
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")


def stream_error(error: Exception) -> str:
    """The event that ends a chat stream whose generation failed after the headers went out."""
    if isinstance(error, ShopwrightError):
        body = {"status": error.status_code, "detail": str(error)}
        if isinstance(error, Busy):
            body["retry_after"] = error.retry_after
    else:
        log.exception("chat stream failed")
        body = {"status": 500, "detail": "internal error"}
    return f"data: {json.dumps({'error': body})}\n\n"
