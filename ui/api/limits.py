"""Per-client rate limits for the expensive routes (the `limits` library, moving windows).

Each limit has a name ("chat", "search", "copy") and its rate in the settings
(`rate_limit_<name>`, e.g. "30/minute"); /v1/chat and /v1/chat/completions share "chat", so
switching between them does not double a client's budget. The client is the API key when the
request sends a valid one (its id, so a widget key shared by all of a shop's visitors has one
budget), else the client address. An invalid token never reaches the limiter (401 first), so a
caller cannot dodge the limit by sending a new token each time. Windows live in this process's
memory.

Past the limit: 429 with `Retry-After` (seconds until the window frees a slot) and the route
family's error shape (OpenAIRoute turns `RateLimited` into OpenAI's `rate_limit_error`).
"""

from __future__ import annotations

import math
import time
from typing import Any

from fastapi import Depends, Request
from starlette.exceptions import HTTPException

from shop.keys import Caller
from shop.settings import Settings
from ui.api.deps import CallerDep
from ui.metrics import route_of

LIMITS = ("chat", "search", "copy")


class RateLimited(HTTPException):
    def __init__(self, name: str, rate: str, retry_after: int):
        super().__init__(429, f"rate limit for {name} ({rate}) exceeded; retry in "
                         f"{retry_after} s", headers={"Retry-After": str(retry_after)})


class RateLimiter:
    """One app's limiter: a moving window per (limit, client)."""

    def __init__(self, settings: Settings):
        from limits import parse
        from limits.storage import MemoryStorage
        from limits.strategies import MovingWindowRateLimiter

        self.enabled = settings.rate_limit_enabled
        self.items = {name: parse(getattr(settings, f"rate_limit_{name}")) for name in LIMITS}
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    @staticmethod
    def client(request: Request, caller: Caller) -> str:
        if caller.scope is not None:
            return f"key:{caller.key_id if caller.key_id is not None else caller.name}"
        return "addr:" + (request.client.host if request.client else "unknown")

    def hit(self, name: str, client: str) -> int | None:
        """Count one request; None if allowed, else the seconds until a slot frees (>= 1)."""
        item = self.items[name]
        if self.limiter.hit(item, name, client):
            return None
        reset = self.limiter.get_window_stats(item, name, client).reset_time
        return max(1, math.ceil(reset - time.time()))


class RateLimit:
    """Dependency: `dependencies=[Depends(RateLimit("chat"))]`, or `rate_limit("chat")`."""

    def __init__(self, name: str):
        if name not in LIMITS:
            raise ValueError(f"unknown rate limit {name!r}; one of {', '.join(LIMITS)}")
        self.name = name

    async def __call__(self, request: Request, caller: CallerDep) -> None:
        limiter: RateLimiter = request.app.state.rate_limiter
        if not limiter.enabled:
            return
        retry_after = limiter.hit(self.name, limiter.client(request, caller))
        if retry_after is None:
            return
        metrics: Any = getattr(request.app.state, "metrics", None)
        if metrics is not None:
            metrics.rate_limited.labels(route_of(request.scope)).inc()
        raise RateLimited(self.name, str(limiter.items[self.name]), retry_after)


def rate_limit(name: str) -> Any:
    return Depends(RateLimit(name))
