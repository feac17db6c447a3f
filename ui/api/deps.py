"""Dependencies shared by the routers (`Annotated` style)."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, FastAPI, Header, Request

from shop.errors import Unauthorized
from ui.context import ShopContext


def set_context(app: FastAPI, context: ShopContext) -> None:
    app.state.context = context


def get_context(request: Request) -> ShopContext:
    return request.app.state.context


Context = Annotated[ShopContext, Depends(get_context)]


def require_admin(context: Context,
                  authorization: Annotated[str | None, Header()] = None) -> None:
    """Write endpoints need `Authorization: Bearer <SHOPWRIGHT_ADMIN_KEY>`."""
    expected = context.settings.admin_key.get_secret_value()
    token = (authorization or "").removeprefix("Bearer ").strip()
    if not token or not hmac.compare_digest(token.encode(), expected.encode()):
        raise Unauthorized("missing or wrong API key; send 'Authorization: Bearer <admin key>'")


Admin = Depends(require_admin)
