"""The error shape of the REST routes, declared once so every route documents its errors.

Outside the OpenAI-compatible routes (which answer in OpenAI's shape, see openai_compat.py),
every error body is `{"detail": ...}`: a message string, or for 422 the list pydantic makes.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class Detail(BaseModel):
    detail: str | list[Any]


DESCRIPTIONS = {
    400: "Malformed request",
    401: "Missing, unknown or revoked API key",
    403: "The key's scope does not reach this",
    404: "Not found",
    413: "Request body too large",
    422: "Invalid parameters or body",
    429: "Rate limit exceeded; see Retry-After",
    503: "Busy or not ready; see Retry-After",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route that can answer with these error codes."""
    return {code: {"model": Detail, "description": DESCRIPTIONS[code]} for code in codes}
