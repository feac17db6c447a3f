"""/v1/customers/{id}: a customer's personal data, exported (GET) or erased (DELETE). Admin only.

Both are audited in the store (`audit_log`). Erasure also drops the customer from the loaded
recommender at once, so their next recommendations are a cold start.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from shop.privacy import erase_customer, export_customer
from ui.api.deps import AdminCaller, Context
from ui.api.errors import errors
from ui.context import ShopContext

router = APIRouter(prefix="/v1", tags=["customers"])

ERRORS = errors(401, 403, 404)


class Profile(BaseModel):
    id: str
    first_name: str
    email: str
    locale: str
    marketing_consent: bool
    unsubscribed_at: str | None
    created_at: str | None


class CustomerExport(BaseModel):
    customer_id: str
    profile: Profile
    events: list[dict[str, Any]]
    generated_content: list[dict[str, Any]]
    campaign_emails: list[dict[str, Any]]
    chats: list[dict[str, Any]]
    experiment_assignments: list[dict[str, Any]]
    experiment_feedback: list[dict[str, Any]]
    trigger_firings: list[dict[str, Any]]
    orders: list[dict[str, Any]]
    order_requests: list[dict[str, Any]]
    reviews: list[dict[str, Any]]
    coupons: list[dict[str, Any]]  # campaign codes issued to them, and whether redeemed
    coupon_uses: list[dict[str, Any]]  # their orders that carried a code, counted or flagged
    offer_arms: list[dict[str, Any]]  # per campaign: offer, no_offer or control
    segment: dict[str, Any] | None
    scores: dict[str, Any] | None  # predicted value: p_purchase, expected_spend, churn_risk ...


class Erased(BaseModel):
    customer_id: str
    erased: dict[str, int]  # rows deleted per table, and campaign files changed


@router.get("/customers/{customer_id}", responses=ERRORS)
def export(customer_id: str, context: Context, caller: AdminCaller) -> CustomerExport:
    """Everything stored about the customer (GDPR art. 15): profile, consent, events,
    generated content, campaign emails, orders, reviews, their recommender segment and their
    predicted value (`scores`: p_purchase, expected_orders, expected_spend, churn_risk,
    next_order_date over `horizon_days`, as of `as_of`)."""
    return CustomerExport.model_validate(export_customer(
        context.store, customer_id, caller.actor, segment=lambda cid: _segment(context, cid)))


@router.delete("/customers/{customer_id}", responses=ERRORS)
def erase(customer_id: str, context: Context, caller: AdminCaller) -> Erased:
    """Delete the customer and everything keyed by them (GDPR art. 17), in one transaction."""
    counts = erase_customer(context.store, customer_id, caller.actor)
    if "recommender" in context.__dict__:  # loaded: forget now; a later load skips them anyway
        context.recommender.forget(customer_id)
    if "review_aspects" in context.__dict__:  # their words leave the summaries too
        context.review_aspects.forget()
    return Erased(customer_id=customer_id, erased=counts)


def _segment(context: ShopContext, customer_id: str) -> dict | None:
    """Their segment in the served model, if one is loaded or saved (never trains one)."""
    loaded = "recommender" in context.__dict__
    if not loaded and not (context.settings.data_dir / "recsys" / "served.json").is_file():
        return None
    segmentation = context.recommender.segments()
    label = segmentation.get("assignments", {}).get(customer_id)
    if label is None:
        return None
    described = {s["id"]: s.get("description") for s in segmentation.get("segments", [])}
    return {"id": label, "description": described.get(label)}
