"""GET /v1/recommendations/{customer_id}: products for one customer, with reasons on request."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from recsys.serving import ServeOptions
from shop.errors import Forbidden
from ui.api.deps import Context, KeyCaller, check_own_customer
from ui.api.errors import errors

router = APIRouter(prefix="/v1", tags=["recommendations"])


class RecommendedItem(BaseModel):
    product_id: str
    title: str | None
    category: str | None
    price: float | None
    score: float | None
    reasons: list[dict[str, Any]] | None = None  # with explain=true
    reason_text: list[str] | None = None  # as the customer reads them: no numbers
    reason_detail: list[str] | None = None  # for the shop: shares of the score, counts


class Recommendations(BaseModel):
    customer_id: str
    model: str | None
    known_customer: bool
    cold_start: bool
    segment: int | None
    items: list[RecommendedItem]


@router.get("/recommendations/{customer_id}", responses=errors(401, 403, 422),
            response_model_exclude_unset=True)  # reasons only with explain
def recommendations(
    request: Request,
    context: Context,
    caller: KeyCaller,
    customer_id: str,
    options: Annotated[ServeOptions, Query()],
) -> Recommendations:
    """Query parameters are the fields of ServeOptions (k, explain, category, min_price,
    max_price, max_per_category, exclude_seen, in_stock_only, boost, bury, ...). An unknown
    customer gets cold-start recommendations. A widget key gets its own chat session's
    customer only, without `explain` (the reasons name what the customer viewed and bought)."""
    check_own_customer(caller, request, context, customer_id)
    if options.explain and not caller.is_admin:
        raise Forbidden("explained recommendations are personal data; they need an admin key")
    return Recommendations.model_validate(context.recommender.recommend(customer_id, options))


@router.get("/recommendations/{customer_id}/buy-again", responses=errors(401, 403, 422),
            response_model_exclude_unset=True)
def buy_again(
    request: Request,
    context: Context,
    caller: KeyCaller,
    customer_id: str,
    k: Annotated[int, Query(ge=1, le=100)] = 10,
) -> Recommendations:
    """What the customer bought before and is due to reorder now, best first (each
    customer's own rhythm against the product's), in stock only. Empty for a customer with no
    purchases. A widget key gets its own chat session's customer only."""
    check_own_customer(caller, request, context, customer_id)
    return Recommendations.model_validate(context.recommender.buy_again(customer_id, k))
