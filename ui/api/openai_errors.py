"""OpenAI's error shape for the OpenAI-compatible routes: `{"error": {"message", "type",
"param", "code"}}`, for every failure, including FastAPI's own (validation, 413, 429) and our
`ShopwrightError`s (with their headers: `Retry-After` when the model or the store is busy)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException

from shop.errors import ShopwrightError
from shop.store import as_busy
from ui.api.limits import RateLimited


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None
    code: str | None


class OpenAIErrorBody(BaseModel):
    """The documented shape of every error under these routes."""

    error: ErrorDetail


class OpenAIError(Exception):
    def __init__(self, status: int, message: str, param: str | None = None,
                 code: str | None = None, type: str = "invalid_request_error",
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.type = (
            status, message, param, code, type)
        self.headers = headers

    def response(self) -> JSONResponse:
        return JSONResponse({"error": self.body()}, status_code=self.status,
                            headers=self.headers)

    def body(self) -> dict:
        return {"message": self.message, "type": self.type, "param": self.param,
                "code": self.code}


def from_shopwright(exc: ShopwrightError) -> OpenAIError:
    status = exc.status_code
    kind = ("authentication_error" if status == 401 else
            "invalid_request_error" if status < 500 else "server_error")
    return OpenAIError(status, str(exc), type=kind, code=type(exc).__name__, headers=exc.headers)


def _validation_error(error: dict) -> OpenAIError:
    if error.get("type") == "json_invalid":
        detail = (error.get("ctx") or {}).get("error", "")
        return OpenAIError(400, f"the body is not valid JSON: {detail}".rstrip(": "),
                           None, "invalid_json")
    param = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or None
    return OpenAIError(400, f"{param or 'body'}: {error.get('msg', 'invalid value')}", param,
                       "invalid_value")


class OpenAIRoute(APIRoute):
    """Answers every failure of these routes in OpenAI's error shape, not FastAPI's."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def openai_errors(request: Request) -> Response:
            try:
                return await handler(request)
            except OpenAIError as exc:
                return exc.response()
            except RateLimited as exc:
                response = OpenAIError(429, str(exc.detail), type="rate_limit_error",
                                       code="rate_limit_exceeded").response()
                response.headers.update(exc.headers or {})
                return response
            except RequestValidationError as exc:
                return _validation_error(exc.errors()[0]).response()
            except HTTPException as exc:
                if exc.status_code == 413:  # the app's max_body_size, chunked bodies included
                    limit = request.app.state.context.settings.max_request_bytes
                    return OpenAIError(413, f"request body over {limit} bytes",
                                       code="too_large").response()
                return OpenAIError(exc.status_code, str(exc.detail)).response()
            except ShopwrightError as exc:
                return from_shopwright(exc).response()
            except (OperationalError, PoolTimeout) as exc:
                busy = as_busy(exc)  # a locked store: 503 with Retry-After, as the app's handler
                if busy is None:
                    raise
                return from_shopwright(busy).response()

        return openai_errors
