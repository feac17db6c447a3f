"""POST /v1/sessions: a chat session, the unit a widget key acts within.

The shop's server (admin key) opens one for a logged-in shopper and puts its id in the page;
the widget (widget key) may open an anonymous one. The id comes back once; requests about the
session's customer send it in `X-Shopwright-Session`.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from shop.sessions import create_session
from ui.api.deps import Context, KeyCaller
from ui.api.errors import errors

router = APIRouter(prefix="/v1", tags=["sessions"])


class SessionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: str | None = Field(default=None, min_length=1, max_length=64,
                                    description="Admin keys only: the logged-in shopper")


class SessionCreated(BaseModel):
    session_id: str
    customer_id: str | None
    expires_at: str


@router.post("/sessions", status_code=201, responses=errors(400, 401, 403, 404, 413, 422))
def open_session(body: SessionRequest, caller: KeyCaller, context: Context) -> SessionCreated:
    ttl = timedelta(hours=context.settings.session_ttl_hours)
    return SessionCreated(**create_session(context.store, caller, ttl, body.customer_id))
