"""POST /v1/events: behaviour events from the shop, stored then folded into profiles at once."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from shop.errors import Forbidden
from shop.records import EventRecord
from ui.api.deps import Context, KeyCaller, session_customer_of
from ui.api.errors import errors

router = APIRouter(prefix="/v1", tags=["events"])


class EventBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[EventRecord] = Field(min_length=1, max_length=1000)


class EventsAccepted(BaseModel):
    accepted: int
    duplicates: int
    keys: list[str]


@router.post("/events", responses=errors(400, 401, 403, 413, 422))
def post_events(batch: EventBatch, context: Context, caller: KeyCaller,
                request: Request) -> EventsAccepted:
    """Idempotent by `idempotency_key` (derived from the content when absent): a retried batch
    is stored once. Every event is in the store before the response; the customers' next
    recommendations already reflect them. A widget key posts events of its own chat session's
    customer only."""
    if not caller.is_admin:
        own = session_customer_of(caller, request, context)
        others = {event.customer_id for event in batch.events} - {own}
        if own is None or others:
            raise Forbidden("a widget key posts events of its own chat session's customer only")
    result = context.recommender.record_events(batch.events)
    return EventsAccepted(accepted=len(result["accepted"]),
                          duplicates=len(result["duplicates"]),
                          keys=result["accepted"] + result["duplicates"])
