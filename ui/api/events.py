"""POST /v1/events: behaviour events from the shop, stored then folded into profiles at once."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from shop.records import EventRecord
from ui.api.deps import Admin, Context

router = APIRouter(prefix="/v1", tags=["events"])


class EventBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[EventRecord] = Field(min_length=1, max_length=1000)


@router.post("/events", dependencies=[Admin])
def post_events(batch: EventBatch, context: Context) -> dict:
    """Idempotent by `idempotency_key` (derived from the content when absent): a retried batch
    is stored once. Every event is in the store before the response; the customers' next
    recommendations already reflect them."""
    result = context.recommender.record_events(batch.events)
    return {"accepted": len(result["accepted"]), "duplicates": len(result["duplicates"]),
            "keys": result["accepted"] + result["duplicates"]}
