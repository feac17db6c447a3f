"""Support outcomes and the shop's vetted answers.

    POST  /v1/chat/feedback            the shopper's "Did this answer your question?" on one
                                       answer of their session (the widget sends it)
    GET   /v1/support/report?days=30   involvement, resolution, handoffs, satisfaction, gaps
    GET   /v1/vetted-answers           the shop's own answers (?active=false: retired ones)
    POST  /v1/vetted-answers           add one (a person's answer, or a gap's)
    PATCH /v1/vetted-answers/{id}      edit the question or answer, retire or restore it

Feedback needs only the session id (the shopper's bearer secret) and the turn it names; the
rest is the shop team's (admin keys).
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from gen.tasks.outcomes import support_report
from shop.outcomes import give_feedback
from shop.vetted import add_vetted, edit_vetted, vetted_answers
from ui.api.deps import AdminCaller, CallerDep, Context, Public
from ui.api.errors import errors
from ui.api.limits import rate_limit

router = APIRouter(prefix="/v1", tags=["support"])


class Feedback(BaseModel):
    model_config = ConfigDict(extra="forbid")

    session_id: str = Field(min_length=1, max_length=64)
    turn_id: int = Field(ge=1, le=2**31 - 1, description="`turn_id` of the chat reply")
    helpful: bool
    comment: str = Field(default="", max_length=2000)


class VettedIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=3, max_length=4000)
    answer: str = Field(min_length=1, max_length=8000)
    origin: Literal["studio", "gap"] = "studio"
    tags: list[str] = Field(default_factory=list, max_length=20)


class VettedChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str | None = Field(default=None, min_length=3, max_length=4000)
    answer: str | None = Field(default=None, min_length=1, max_length=8000)
    active: bool | None = None


@router.post("/chat/feedback", dependencies=[Public, rate_limit("chat")],
             responses=errors(400, 401, 403, 404, 413, 422, 429))
def feedback(body: Feedback, context: Context, caller: CallerDep) -> dict[str, Any]:
    """Store the shopper's verdict on one answer (sent again, it replaces the first)."""
    return give_feedback(context.store, body.session_id, body.turn_id, body.helpful,
                         body.comment)


@router.get("/support/report", responses=errors(401, 403, 422))
async def report(context: Context, caller: AdminCaller,
                 days: int = Query(30, ge=1, le=366)) -> dict[str, Any]:
    embed = context.generation.knowledge.embed
    return await run_in_threadpool(support_report, context.store, embed, days)


@router.get("/vetted-answers", responses=errors(401, 403, 422))
def list_vetted(context: Context, caller: AdminCaller,
                active: bool | None = True) -> list[dict[str, Any]]:
    return vetted_answers(context.store, active)


@router.post("/vetted-answers", status_code=201, responses=errors(400, 401, 403, 413, 422))
def create_vetted(body: VettedIn, context: Context, caller: AdminCaller) -> dict[str, Any]:
    return add_vetted(context.store, body.question, body.answer, body.origin, body.tags)


@router.patch("/vetted-answers/{answer_id}", responses=errors(400, 401, 403, 404, 413, 422))
def change_vetted(answer_id: str, body: VettedChange, context: Context,
                  caller: AdminCaller) -> dict[str, Any]:
    return edit_vetted(context.store, answer_id, body.question, body.answer, body.active)
