"""Dependencies shared by the routers (`Annotated` style): the context, and who is calling.

Every request has one `Caller` (shop/keys.py), read from `Authorization: Bearer <key>` once
and kept on `request.state`. A token that is no valid key is a 401 where a key is needed; on
the public routes it counts as no key (OpenAI clients must send some api_key, and a made-up
one is limited by address like any anonymous caller, so it opens no new rate-limit budget).

- `Admin`: admin keys only (401 without a key, 403 with a widget key).
- `Public`: no key, a widget key or an admin key. A widget key sent from a browser must come
  from one of its origins (403 otherwise); with `SHOPWRIGHT_PUBLIC_API=false` a key is required.
- `KeyCaller`: a widget or admin key.
- `session_customer_of(caller, request)`: for a widget key, the customer of the chat session
  in `X-Shopwright-Session` (the only customer it may read or write).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shop.errors import Forbidden, Unauthorized
from shop.keys import Caller, authenticate
from shop.sessions import session_customer
from ui.context import ShopContext

SESSION_HEADER = "X-Shopwright-Session"
INVALID_KEY = Caller(name="invalid-key")  # a bearer token that is no active key


def set_context(app: FastAPI, context: ShopContext) -> None:
    app.state.context = context


def get_context(request: Request) -> ShopContext:
    return request.app.state.context


Context = Annotated[ShopContext, Depends(get_context)]


def bearer(request: Request) -> str:
    return request.headers.get("authorization", "").removeprefix("Bearer ").strip()


def get_caller(request: Request, context: Context) -> Caller:
    cached = getattr(request.state, "caller", None)
    if cached is not None:
        return cached
    token = bearer(request)
    caller = Caller()
    if token:
        caller = authenticate(context.store, context.settings, token) or INVALID_KEY
    origin = request.headers.get("origin")
    if caller.scope == "widget" and origin and caller.origins \
            and origin.rstrip("/") not in caller.origins:
        raise Forbidden(f"this widget key is not for pages on {origin}; add the origin with "
                        "`shopwright keys create --scope widget --origin ...`")
    request.state.caller = caller
    return caller


CallerDep = Annotated[Caller, Depends(get_caller)]
# Declares the bearer scheme in /openapi.json for the routes that need a key; get_caller reads
# the header itself, so public routes (which take a key but do not need one) declare nothing.
KeyScheme = Annotated[HTTPAuthorizationCredentials | None,
                      Depends(HTTPBearer(auto_error=False, scheme_name="APIKey",
                                         description="`shopwright keys create`"))]


def _refuse_without_key(caller: Caller, needs: str) -> None:
    if caller is INVALID_KEY:
        raise Unauthorized("unknown or revoked API key; create one with `shopwright keys "
                           "create`")
    if caller.scope is None:
        raise Unauthorized(f"this needs {needs}; send 'Authorization: Bearer <key>'")


def require_admin(caller: CallerDep, _scheme: KeyScheme) -> Caller:
    _refuse_without_key(caller, "an admin key")
    if not caller.is_admin:
        raise Forbidden("a widget key cannot do this; it needs an admin key")
    return caller


def require_any(caller: CallerDep, context: Context) -> Caller:
    if not context.settings.public_api:
        _refuse_without_key(caller, "a widget or admin key (SHOPWRIGHT_PUBLIC_API is off)")
    return caller


def require_key(caller: CallerDep, _scheme: KeyScheme) -> Caller:
    """A widget or admin key (routes that hand out personal data or accept writes)."""
    _refuse_without_key(caller, "a widget or admin key")
    return caller


Admin = Depends(require_admin)
Public = Depends(require_any)
AdminCaller = Annotated[Caller, Depends(require_admin)]
KeyCaller = Annotated[Caller, Depends(require_key)]


def session_customer_of(caller: Caller, request: Request, context: ShopContext) -> str | None:
    """A widget key's own customer: the one its chat session is bound to (None: anonymous)."""
    session_id = request.headers.get(SESSION_HEADER, "").strip()
    if not session_id:
        raise Forbidden(f"a widget key reaches its own chat session only; send the session "
                        f"from POST /v1/sessions in the {SESSION_HEADER} header")
    alive, customer_id = session_customer(context.store, session_id)
    if not alive:
        raise Forbidden("unknown or expired chat session; start one with POST /v1/sessions")
    return customer_id


def check_own_customer(caller: Caller, request: Request, context: ShopContext,
                       customer_id: str) -> None:
    """Admin: anyone. Widget key: only its session's customer."""
    if caller.is_admin:
        return
    if session_customer_of(caller, request, context) != customer_id:
        raise Forbidden("a widget key reaches its own chat session's customer only")
