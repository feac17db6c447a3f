"""/v1/chat/session: the widget's conversation on the server, and "talk to a person".

Both take the session id in `X-Shopwright-Session` (or, for the handoff, in the body); like
the chat they are public (rate-limited as chat) unless SHOPWRIGHT_PUBLIC_API is off. The id is
the secret: whoever holds it may read that one conversation, as the shopper's own browser does.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header
from pydantic import BaseModel, ConfigDict, Field

from shop.errors import NotFound
from shop.sessions import hand_off, load_session
from ui.api.deps import SESSION_HEADER, Context, Public
from ui.api.errors import errors
from ui.api.limits import rate_limit

router = APIRouter(prefix="/v1/chat", tags=["chat"], dependencies=[Public, rate_limit("chat")])

HANDOFF_MESSAGE = ("Thanks, we have passed this conversation to our customer service team. "
                   "A person will reply within one business day, by email if you are signed "
                   "in, or here in this chat.")


class SessionView(BaseModel):
    session_id: str
    customer_id: str | None
    turns: list[dict[str, Any]]
    handoff: bool
    expires_at: str


class HandoffRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    session_id: str = Field(min_length=1, max_length=64)


class HandoffDone(BaseModel):
    session_id: str
    handoff: bool
    message: str = Field(description="What happens next, for the shopper")


@router.get("/session", responses=errors(401, 403, 404, 422, 429))
def conversation(context: Context,
                 session: Annotated[str, Header(alias=SESSION_HEADER, min_length=1,
                                                max_length=64)]) -> SessionView:
    """The conversation so far (redacted as stored), e.g. to show it on another device."""
    found = load_session(context.store, session)
    if found is None:
        raise NotFound("unknown or expired chat session")
    return SessionView(**found)


@router.post("/session/handoff", responses=errors(400, 401, 403, 404, 413, 422, 429))
def handoff(body: HandoffRequest, context: Context) -> HandoffDone:
    """Flag the session for the shop's team (the conversation goes with it)."""
    hand_off(context.store, body.session_id)
    return HandoffDone(session_id=body.session_id, handoff=True, message=HANDOFF_MESSAGE)
