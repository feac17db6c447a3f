"""GET /v1/search: product or knowledge-base search (hybrid by default)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from retrieval.filters import SearchFilters
from retrieval.search import Hit, Mode, build_request
from shop.errors import InvalidInput
from ui.api.deps import Context

router = APIRouter(prefix="/v1", tags=["search"])

_PARAMS = {"q", "k", "kb", "mode"}


@router.get("/search", response_model=list[Hit])
def search(
    request: Request,
    context: Context,
    q: Annotated[str, Query(description="What to search for")] = "",
    k: Annotated[int, Query(ge=1, le=100)] = 10,
    kb: Annotated[bool, Query(description="Search the knowledge base instead")] = False,
    mode: Mode = "hybrid",
    category: str | None = None,
    min_price: float | None = None,
    max_price: float | None = None,
    in_stock: bool = False,
    locale: str | None = None,
) -> list[Hit]:
    unknown = sorted(set(request.query_params) - _PARAMS - set(SearchFilters.model_fields))
    if unknown:
        raise InvalidInput(f"unknown parameter(s): {', '.join(unknown)}; valid parameters are: "
                           f"{', '.join(sorted(_PARAMS))} and the filters "
                           f"{', '.join(SearchFilters.model_fields)}")
    return context.search.search(build_request(
        q, k, kb, mode, category=category, min_price=min_price, max_price=max_price,
        in_stock=in_stock, locale=locale))
