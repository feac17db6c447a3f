"""The FastAPI application: REST API, health checks, and the Gradio studio mounted at /studio."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from shop.errors import ShopwrightError
from ui.api import ROUTERS
from ui.api.deps import set_context
from ui.context import ShopContext, default_context


def create_app(context: ShopContext | None = None, with_studio: bool = True) -> FastAPI:
    context = context or default_context()
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
