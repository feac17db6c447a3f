"""GET /v1/search: product or knowledge-base search (hybrid by default).

The response is the list of hits, as it always was. The filters query understanding read from
`q` ("lamps under 200 euros" -> {"category": "lamps", "max_price": 200.0}) come back in the
`X-Parsed-Filters` header (JSON), and in the body with `envelope=true`:
{"hits": [...], "parsed_filters": {...}, "text": "lamps"}. `understand=false` turns it off.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel

from retrieval.search import Hit, Mode, build_request
from shop.errors import InvalidInput
from ui.api.deps import Context, Public
from ui.api.errors import errors
from ui.api.limits import rate_limit

router = APIRouter(prefix="/v1", tags=["search"])

_PARAMS = {"q", "k", "kb", "mode", "understand", "envelope"}
# the filters this route takes by name (SearchFilters has more, set by query understanding)
_FILTERS = ("category", "min_price", "max_price", "in_stock", "locale")


class SearchEnvelope(BaseModel):
    hits: list[Hit]
    parsed_filters: dict[str, Any]
    text: str  # what was searched for once the parsed phrases were taken out


@router.get("/search", response_model=list[Hit] | SearchEnvelope,
            dependencies=[Public, rate_limit("search")], responses=errors(401, 403, 422, 429))
def search(
    request: Request,
    response: Response,
    context: Context,
    q: Annotated[str, Query(description="What to search for", min_length=1, max_length=500,
                            pattern=r"\S")],
    k: Annotated[int, Query(ge=1, le=100)] = 10,
    kb: Annotated[bool, Query(description="Search the knowledge base instead")] = False,
    mode: Mode = "hybrid",
    category: str | None = None,
    min_price: Annotated[float | None, Query(ge=0)] = None,
    max_price: Annotated[float | None, Query(ge=0)] = None,
    in_stock: bool = False,
    locale: Annotated[str | None, Query(pattern=r"^[a-z]{2}(-[A-Z]{2})?$",
                                        description="e.g. de or de-DE")] = None,
    understand: Annotated[bool, Query(description="Read filters from the query")] = True,
    envelope: Annotated[bool, Query(description="Return hits and parsed filters")] = False,
) -> list[Hit] | SearchEnvelope:
    unknown = sorted(set(request.query_params) - _PARAMS - set(_FILTERS))
    if unknown:
        raise InvalidInput(f"unknown parameter(s): {', '.join(unknown)}; valid parameters are: "
                           f"{', '.join(sorted(_PARAMS))} and the filters "
                           f"{', '.join(_FILTERS)}")
    result = context.search.search_with_understanding(build_request(
        q, k, kb, mode, understand, category=category, min_price=min_price,
        max_price=max_price, in_stock=in_stock, locale=locale))
    response.headers["X-Parsed-Filters"] = json.dumps(result.parsed_filters)
    if envelope:
        return SearchEnvelope(hits=result.hits, parsed_filters=result.parsed_filters,
                              text=result.parsed.text if result.parsed else q)
    return result.hits
