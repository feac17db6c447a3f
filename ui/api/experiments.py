"""/v1/experiments and /v1/feedback: A/B tests and bandits over generated content. Admin only.

The shop asks which variant to show a customer (`assign`), shows it, and posts what happened
(`feedback`); the experiment promotes a winner by the rule its responses state (`rule`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from experiments.report import report
from experiments.spec import KEY_PATTERN, ExperimentSpec, FeedbackEvent
from ui.api.deps import Admin, Context
from ui.api.errors import errors

router = APIRouter(prefix="/v1", tags=["experiments"], dependencies=[Admin])

# an experiment's id as the database can hold it (a larger one is a 422, not an overflow)
ExperimentId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class VariantStats(BaseModel):
    key: str
    content_id: int | None
    text: str | None
    impressions: int
    clicks: int
    conversions: int
    click_rate: float | None
    conversion_rate: float | None
    click_rate_ci: tuple[float, float] = Field(description="95% credible interval")
    conversion_rate_ci: tuple[float, float]
    p_best: float = Field(description="Posterior probability of the highest click rate")
    p_beat_control: float | None
    p_value: float | None = Field(description="ab: always-valid (mSPRT) p-value vs control")
    allocation: float = Field(description="Probability the next new customer gets it "
                              "(per segment: see `segments`)")
    assignments: int


class ExperimentReport(BaseModel):
    id: int
    name: str
    policy: str
    control: str
    per_segment: bool
    state: str = Field(description="running | promoted | stopped")
    winner: str | None
    created_at: str
    ended_at: str | None
    rule: str = Field(description="The promotion rule this experiment follows")
    decision: str
    variants: list[VariantStats]
    segments: dict[str, dict[str, dict[str, Any]]] | None


class Assigned(BaseModel):
    variant: str
    propensity: float = Field(description="Probability with which this variant was chosen")
    segment: str


class FeedbackBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[FeedbackEvent] = Field(min_length=1, max_length=1000)


class FeedbackResult(BaseModel):
    recorded: int
    duplicates: int


class StopRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    winner: str | None = Field(default=None, pattern=KEY_PATTERN,
                               description="Serve this variant from now on; default: the "
                                           "promoted one, else the control")


@router.post("/experiments", status_code=201, responses=errors(400, 401, 403, 413, 422))
def create(spec: ExperimentSpec, context: Context) -> ExperimentReport:
    experiment_id = context.experiments.create(spec)
    return ExperimentReport.model_validate(report(context.experiments, experiment_id))


@router.get("/experiments", responses=errors(401, 403))
def list_experiments(context: Context) -> list[ExperimentReport]:
    return [ExperimentReport.model_validate(report(context.experiments, row.id))
            for row in context.experiments.names()]


@router.get("/experiments/{experiment_id}", responses=errors(401, 403, 404, 422))
def show(experiment_id: ExperimentId, context: Context) -> ExperimentReport:
    return ExperimentReport.model_validate(report(context.experiments, experiment_id))


@router.get("/experiments/{experiment_id}/assign", responses=errors(401, 403, 404, 422))
def assign(experiment_id: ExperimentId, context: Context,
           customer_id: str = Query(min_length=1, max_length=64)) -> Assigned:
    """The variant to show this customer (the same one on every call), and the probability
    the policy chose it with (logged for off-policy evaluation)."""
    assigned = context.experiments.assign(experiment_id, customer_id)
    return Assigned(variant=assigned.variant, propensity=assigned.propensity,
                    segment=assigned.segment)


@router.post("/feedback", responses=errors(400, 401, 403, 404, 413, 422))
def feedback(body: FeedbackEvent | FeedbackBatch, context: Context) -> FeedbackResult:
    """One event or {"events": [...]}; idempotent per (experiment, customer, variant, event),
    all or nothing. A click or conversion also records its impression."""
    events = body.events if isinstance(body, FeedbackBatch) else [body]
    return FeedbackResult.model_validate(context.experiments.record(events))


@router.post("/experiments/{experiment_id}/stop",
             responses=errors(400, 401, 403, 404, 413, 422))
def stop(experiment_id: ExperimentId, context: Context,
         body: StopRequest | None = None) -> ExperimentReport:
    context.experiments.stop(experiment_id, body.winner if body else None)
    return ExperimentReport.model_validate(report(context.experiments, experiment_id))
