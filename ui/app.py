"""The FastAPI application: REST API, health checks, and the Gradio studio mounted at /studio."""

from __future__ import annotations

from fastapi import Depends, FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import Scope

from shop.errors import ShopwrightError
from shop.keys import widget_origins
from shop.logs import install_redaction
from shop.store import as_busy
from ui.api import ROUTERS
from ui.api.deps import set_context
from ui.api.json_body import check_json_body, validation_error
from ui.api.limits import RateLimiter
from ui.context import ShopContext, default_context
from ui.cors import StudioSameOrigin, WidgetCORS
from ui.metrics import install_metrics
from ui.warmup import Warmup, default_warmup, lifespan


def create_app(context: ShopContext | None = None, with_studio: bool = True,
               warmup: Warmup | None = None) -> FastAPI:
    """`warmup`: what start-up loads before /readyz turns ready (ui/warmup.py); by default the
    chat's models and indexes, unless SHOPWRIGHT_WARM_UP is off."""
    context = context or default_context()
    warmup = warmup or default_warmup(context)
    install_redaction()  # no personal data in logs (shop/logs.py)
    # max_body_size: FastAPI's own limit, for every route and for chunked bodies too (it counts
    # what arrives, not only Content-Length): 413 {"detail": ...}. check_json_body: no NaN,
    # Infinity or lone surrogate gets past a route's validation (ui/api/json_body.py).
    app = FastAPI(title="shopwright", version="0.1.0",
                  description="Personalization and content service for online shops.",
                  max_body_size=context.settings.max_request_bytes, lifespan=lifespan(warmup),
                  dependencies=[Depends(check_json_body)])
    set_context(app, context)
    app.state.warmup = warmup

    # added last, so outermost: errors from the layers inside (413, 422) carry CORS headers too
    app.add_middleware(WidgetCORS, origins=context.settings.cors_origins,
                       key_origins=lambda: widget_origins(context.store))
    install_metrics(app, context)  # outside even CORS (it only observes): 413s are counted too
    app.state.rate_limiter = RateLimiter(context.settings)

    @app.exception_handler(ShopwrightError)
    async def shopwright_error(_request: Request, exc: ShopwrightError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=exc.status_code,
                            headers=exc.headers)

    @app.exception_handler(OperationalError)
    @app.exception_handler(PoolTimeout)
    async def store_error(request: Request, exc: Exception) -> JSONResponse:
        busy = as_busy(exc)  # a locked or exhausted store: 503 with Retry-After, not a 500
        if busy is None:
            raise exc
        return await shopwright_error(request, busy)

    app.add_exception_handler(RequestValidationError, validation_error)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 405:  # Allow: every method of the path, not of one route
            exc.headers = {**(exc.headers or {}), "Allow": ", ".join(allowed_methods(
                request.app, request.scope))}
        if exc.status_code == 413:  # FastAPI's max_body_size says only "Content Too Large"
            exc.detail = f"request body over {context.settings.max_request_bytes} bytes"
        return await http_exception_handler(request, exc)

    for router in ROUTERS:
        app.include_router(router)

    return mount_studio(app, context) if with_studio else app


def mount_studio(app: FastAPI, context: ShopContext) -> FastAPI:
    """The Gradio studio at /studio, behind the admin login (ui/studio/auth.py)."""
    import gradio as gr

    from ui.studio.app import build_studio
    from ui.studio.auth import install_studio_login, studio_user

    install_studio_login(app, context)  # admin key only: login form, or a bearer token
    app.add_middleware(StudioSameOrigin)  # and only from its own pages (ui/cors.py)
    return gr.mount_gradio_app(app, build_studio(context), path="/studio",
                               auth_dependency=lambda request: studio_user(context, request))


def create_studio_app(context: ShopContext | None = None) -> FastAPI:
    """The studio alone (`shopwright studio`): no API routes beside it."""
    context = context or default_context()
    install_redaction()
    app = FastAPI(title="shopwright studio", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/studio/")

    return mount_studio(app, context)


def allowed_methods(app: FastAPI, scope: Scope) -> list[str]:
    """The methods some route of the app answers on this path (Starlette's 405 names only the
    first route that matched the path, so GET and DELETE on one path would say `Allow: GET`)."""
    methods: set[str] = set()
    for route in app.router.routes:
        match, _ = route.matches(scope)
        if match != Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods)
