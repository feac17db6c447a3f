"""JSON bodies the rest of the service can use: finite numbers and real text only.

Python's json module reads `NaN`, `Infinity`, `1e999` (as infinity) and `"\\ud800"` (a lone
UTF-16 surrogate: a str that no encoder accepts), though none is a JSON number or a character.
Past validation they would fail later, in the store, a log line or the response: a 500.
`check_json_body`, a dependency of every route, refuses them first, as FastAPI refuses malformed
JSON: 422 `json_invalid`, saying where and what (the OpenAI routes: their 400 `invalid_json`).

`validation_error` is FastAPI's 422 handler, except that an error never echoes an `input` that
cannot be encoded (FastAPI's own would fail on it and answer 500).
"""

from __future__ import annotations

import json
import math
from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

NOT_FINITE = ("is not a finite number (NaN, Infinity and numbers beyond 1.8e308 are not JSON "
              "numbers); send a finite number")
NOT_TEXT = ("holds a lone UTF-16 surrogate (an escape such as \\ud800 without its pair), which is "
            "not a character; send valid Unicode")


async def check_json_body(request: Request) -> None:
    """Raises RequestValidationError for a JSON body with a non-finite number or a lone
    surrogate. Looks only at bodies the route reads as JSON, which FastAPI has parsed already."""
    if getattr(request.scope.get("route"), "body_field", None) is None:
        return
    content_type = request.headers.get("content-type", "application/json").split(";")[0]
    if not content_type.strip().lower().endswith("json") or not await request.body():
        return
    try:
        body = await request.json()  # cached: the same object the route validates
    except ValueError:
        return  # not JSON after all: FastAPI answers that itself
    problem = find_problem(body)
    if problem is not None:
        loc, message = problem
        where = ".".join(str(part) for part in loc) or "the body"
        raise RequestValidationError([{
            "type": "json_invalid", "loc": ("body", *loc), "msg": f"{where} {message}",
            "input": None, "ctx": {"error": f"{where} {message}"}}])


def find_problem(value: Any) -> tuple[tuple, str] | None:
    """The path to the first non-finite number or lone surrogate in a parsed JSON value, and
    what is wrong there; None if there is none. Iterative: JSON nests as deep as json allows."""
    stack: list[tuple[tuple, Any]] = [((), value)]
    while stack:
        loc, item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return loc, NOT_FINITE
        if isinstance(item, str) and not _is_text(item):
            return loc, NOT_TEXT
        if isinstance(item, dict):
            for key, child in reversed(item.items()):
                if not _is_text(key):
                    return (*loc, _printable(key)), "(a key) " + NOT_TEXT
                stack.append(((*loc, key), child))
        elif isinstance(item, list):
            stack.extend(((*loc, index), child) for index, child in reversed(list(enumerate(item))))
    return None


async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    return JSONResponse({"detail": [_sendable(error) for error in exc.errors()]},
                        status_code=422)


def _sendable(error: dict) -> dict:
    """The error as FastAPI sends it, less an `input` (or any text) that cannot be encoded."""
    try:
        encoded = jsonable_encoder(error)
        if _encodes(encoded):
            return encoded
    except (ValueError, RecursionError):
        pass
    error = {key: value for key, value in error.items() if key != "input"}
    encoded = jsonable_encoder(error)
    return encoded if _encodes(encoded) else _clean(encoded)


def _encodes(value: Any) -> bool:
    """Whether JSONResponse can render this (no NaN or infinity, UTF-8 encodable text)."""
    try:
        json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except (ValueError, RecursionError):  # UnicodeEncodeError is a ValueError
        return False
    return True


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return _printable(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {_printable(str(key)): _clean(child) for key, child in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(child) for child in value]
    return value


def _is_text(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _printable(text: str) -> str:
    """Lone surrogates as their escapes (`\\ud800`), so the text can be sent and logged."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
