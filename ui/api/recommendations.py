"""GET /v1/recommendations/{customer_id}: products for one customer, with reasons on request."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import ValidationError

from recsys.serving import ServeOptions
from shop.errors import InvalidInput
from ui.api.deps import Context

router = APIRouter(prefix="/v1", tags=["recommendations"])


@router.get("/recommendations/{customer_id}")
def recommendations(
    request: Request,
    context: Context,
    customer_id: str,
    boost: Annotated[list[str] | None, Query()] = None,
    bury: Annotated[list[str] | None, Query()] = None,
) -> dict:
    """Query parameters are the fields of ServeOptions (k, explain, category, min_price,
    max_price, max_per_category, exclude_seen, in_stock_only, ...). An unknown customer gets
    cold-start recommendations."""
    params: dict = {key: value for key, value in request.query_params.items()
                    if key not in ("boost", "bury")}
    params["boost"] = boost or []
    params["bury"] = bury or []
    try:
        options = ServeOptions.model_validate(params)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise InvalidInput(f"bad query parameter(s): {problems}") from None
    return context.recommender.recommend(customer_id, options)
