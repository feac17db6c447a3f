"""/v1/reviews and a product's aspect sentiment. Admin only: reviews are customers' words.

    POST /v1/reviews                    a list of reviews, upserted (all or none), the same
                                        fields as `shopwright ingest reviews`
    GET  /v1/products/{id}/aspects      what the product's reviews say of its fit, size,
                                        quality, delivery ...: mentions, sentiment, label
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from shop.errors import NotFound
from shop.records import ReviewRecord
from shop.reviews import upsert_reviews
from shop.schema import Product
from ui.api.deps import AdminCaller, Context
from ui.api.errors import errors

router = APIRouter(prefix="/v1", tags=["reviews"])


class ReviewsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reviews: list[ReviewRecord] = Field(min_length=1, max_length=1000)


class ReviewsWritten(BaseModel):
    written: int
    ids: list[str]


@router.post("/reviews", responses=errors(400, 401, 403, 404, 413, 422))
async def push_reviews(body: ReviewsIn, context: Context, caller: AdminCaller) -> ReviewsWritten:
    """Create or replace reviews (by `id`, or without one by customer, product and
    created_at). Every customer and product must be known; one unknown reference writes
    nothing (404). A rating of 2 or less keeps that product out of the customer's
    recommendations from the next request on."""
    ids = await run_in_threadpool(upsert_reviews, context.store, body.reviews)
    if "recommender" in context.__dict__:  # ratings are feedback: re-read them at next use
        context.recommender.invalidate()
    return ReviewsWritten(written=len(ids), ids=ids)


@router.get("/products/{product_id}/aspects", responses=errors(401, 403, 404))
async def product_aspects(product_id: str, context: Context,
                          caller: AdminCaller) -> dict[str, Any]:
    with context.store.session() as session:
        if session.get(Product, product_id) is None:
            raise NotFound(f"no product {product_id!r}")
    summary = await run_in_threadpool(context.review_aspects.product, product_id)
    return summary.as_dict()
