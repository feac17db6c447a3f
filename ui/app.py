"""The FastAPI application: REST API, health checks, and the Gradio studio mounted at /studio."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from shop.errors import ShopwrightError
from shop.logs import install_redaction
from ui.api import ROUTERS
from ui.api.deps import set_context
from ui.api.limits import RateLimiter
from ui.context import ShopContext, default_context
from ui.metrics import install_metrics

# The chat widget runs on the shop's own pages, so these paths answer cross-origin requests
# from settings.cors_origins; every other path stays same-origin only.
WIDGET_CORS_PATHS = frozenset({"/v1/chat"})


class WidgetCORS:
    """CORSMiddleware for the widget's paths only."""

    def __init__(self, app: ASGIApp, origins: list[str]):
        self.app = app
        self.cors = CORSMiddleware(app, allow_origins=origins, allow_methods=["POST"],
                                   allow_headers=["Content-Type"], max_age=600)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].rstrip("/") in WIDGET_CORS_PATHS:
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def create_app(context: ShopContext | None = None, with_studio: bool = True) -> FastAPI:
    context = context or default_context()
    install_redaction()  # no personal data in logs (shop/logs.py)
    app = FastAPI(title="shopwright", version="0.1.0",
                  description="Personalization and content service for online shops.")
    set_context(app, context)

    @app.middleware("http")
    async def limit_body_size(request: Request, call_next):
        length = request.headers.get("content-length")
        limit = context.settings.max_request_bytes
        if length and length.isdigit() and int(length) > limit:
            return JSONResponse({"detail": f"request body over {limit} bytes"}, status_code=413)
        return await call_next(request)

    # added last, so outermost: errors from the layers inside (413, 422) carry CORS headers too
    app.add_middleware(WidgetCORS, origins=context.settings.cors_origins)
    install_metrics(app, context)  # outside even CORS (it only observes): 413s are counted too
    app.state.rate_limiter = RateLimiter(context.settings)

    @app.exception_handler(ShopwrightError)
    async def shopwright_error(_request: Request, exc: ShopwrightError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=exc.status_code)

    for router in ROUTERS:
        app.include_router(router)

    if with_studio:
        import gradio as gr

        from ui.studio import build_studio

        app = gr.mount_gradio_app(app, build_studio(context), path="/studio")
    return app
