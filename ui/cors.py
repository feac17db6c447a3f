"""Cross-origin access for the widget's routes: the shop's configured origins plus the origins
of every active widget key (`shopwright keys create --scope widget --origin ...`).

A preflight carries no key, so CORS admits an origin that any widget key allows; the request
itself is then checked against its own key's origins (ui/api/deps.py, 403 otherwise). The key
origins are re-read every `REFRESH_S` seconds, so a key created by the CLI in another process
works within that time, and a revoked one stops.

The studio is for its own origin only. Gradio would answer any origin there, credentials
allowed, when the Host is not local (gradio/route_utils.py, CustomCORSMiddleware), unless the
parent app's middleware is Starlette's CORSMiddleware class itself, which WidgetCORS (a subclass)
is not; `StudioSameOrigin` takes every CORS header off the studio's responses instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.datastructures import MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# What a page embedding the widget calls: chat, search, and its own session's data.
WIDGET_PATHS = ("/v1/chat", "/v1/search", "/v1/sessions", "/v1/events", "/v1/recommendations/")
REFRESH_S = 10.0
STUDIO_PATHS = ("/studio",)  # the Gradio mount, and the login and logout beside it


class WidgetCORS(CORSMiddleware):
    """CORSMiddleware for the widget's paths only, with origins that change at runtime."""

    def __init__(self, app: ASGIApp, origins: list[str], key_origins: Callable[[], set[str]]):
        super().__init__(app, allow_origins=origins, allow_methods=["GET", "POST"],
                         allow_headers=["Content-Type", "Authorization", "X-Shopwright-Session"],
                         max_age=600)
        self.inner = app
        self.fixed = frozenset(origins)
        self.key_origins = key_origins
        self._cached: frozenset[str] = frozenset()
        self._read_at = float("-inf")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(WIDGET_PATHS):
            await super().__call__(scope, receive, send)
        else:
            await self.inner(scope, receive, send)

    def is_allowed_origin(self, origin: str) -> bool:
        if origin in self.fixed:
            return True
        now = time.monotonic()
        if now - self._read_at > REFRESH_S:
            self._cached, self._read_at = frozenset(self.key_origins()), now
        return origin in self._cached


class StudioSameOrigin:
    """No `Access-Control-*` header on any response under STUDIO_PATHS: a page elsewhere can
    neither read the studio nor pass a preflight to call it."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(STUDIO_PATHS):
            await self.app(scope, receive, send)
            return

        async def without_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name in {key for key in headers if key.startswith("access-control-")}:
                    del headers[name]
            await send(message)

        await self.app(scope, receive, without_cors)
