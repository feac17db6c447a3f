"""The studio's door: an admin key, as a login form for people and as a bearer token for scripts.

- Scripts and `gradio_client` send `Authorization: Bearer <admin key>` on every call.
- People open /studio, are sent to /studio-login, paste an admin key, and get a signed,
  HttpOnly cookie for `LOGIN_HOURS`. The cookie names the key (never holds it), so revoking the
  key also ends its studio logins.

Gradio asks `studio_user` for every page, config, queue and API call (`auth_dependency`); None
means 401. Only a browser asking for the studio page itself is redirected to the login form.

Wrong keys at the form are counted per client address (`LoginThrottle`); past
`rate_limit_studio_login` every try from that address is 429 until the window frees a slot.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import math
import time
from urllib.parse import parse_qs

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from shop.keys import BOOTSTRAP_ADMIN, Caller, active_caller, authenticate
from ui.context import ShopContext

COOKIE = "shopwright_studio"
LOGIN_HOURS = 12
LOGIN_PATH = "/studio-login"
STUDIO_PAGES = ("/studio", "/studio/")
PURPOSE = b"studio-login:"


def studio_user(context: ShopContext, request: Request) -> str | None:
    """The admin behind a request (bearer key or login cookie), or None."""
    token = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    if token:
        caller = authenticate(context.store, context.settings, token)
        return caller.actor if caller is not None and caller.is_admin else None
    return _cookie_user(context, request.cookies.get(COOKIE, ""))


def install_studio_login(app: FastAPI, context: ShopContext) -> None:
    """The login form's routes, and the redirect of a browser without a login to it."""
    router = APIRouter(include_in_schema=False)
    throttle = LoginThrottle(context.settings.rate_limit_studio_login)

    @router.get(LOGIN_PATH, response_class=HTMLResponse)
    def login_form() -> HTMLResponse:
        return HTMLResponse(_page(context.settings.shop_name, ""))

    @router.post(LOGIN_PATH)
    async def login(request: Request) -> Response:
        fields = parse_qs((await request.body()).decode("utf-8", "replace"))
        key = (fields.get("key") or [""])[0].strip()
        address = request.client.host if request.client else "unknown"
        # checked before the key (a right key let through would tell itself from the wrong
        # ones), and with no await from here to the count, so parallel tries are all counted
        retry_after = throttle.wait(address)
        if retry_after:
            return HTMLResponse(_page(context.settings.shop_name,
                                      f"Too many wrong keys from your address; try again in "
                                      f"{retry_after} s."),
                                status_code=429, headers={"Retry-After": str(retry_after)})
        caller = authenticate(context.store, context.settings, key) if key else None
        if caller is None or not caller.is_admin:
            throttle.failed(address)
            return HTMLResponse(_page(context.settings.shop_name,
                                      "That is not an admin key. Create one with "
                                      "<code>shopwright keys create --scope admin</code>."),
                                status_code=401)
        response = RedirectResponse("/studio/", status_code=303)
        response.set_cookie(COOKIE, _cookie_for(context, caller), max_age=LOGIN_HOURS * 3600,
                            httponly=True, samesite="strict", path="/",
                            secure=request.url.scheme == "https")
        return response

    @router.get("/studio-logout")
    def logout() -> Response:
        response = RedirectResponse(LOGIN_PATH, status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    app.include_router(router)

    @app.middleware("http")
    async def to_login(request: Request, call_next):
        if request.method == "GET" and request.url.path in STUDIO_PAGES \
                and "text/html" in request.headers.get("accept", "") \
                and studio_user(context, request) is None:
            return RedirectResponse(LOGIN_PATH, status_code=303)
        return await call_next(request)


class LoginThrottle:
    """Failed logins per client address in a moving window (the `limits` library, in this
    process's memory, as the API's rate limits in ui/api/limits.py)."""

    def __init__(self, rate: str):
        from limits import parse
        from limits.storage import MemoryStorage
        from limits.strategies import MovingWindowRateLimiter

        self.item = parse(rate)
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    def wait(self, address: str) -> int:
        """0 if this address may try a key now, else the seconds until it may (>= 1)."""
        if self.limiter.test(self.item, "studio-login", address):
            return 0
        reset = self.limiter.get_window_stats(self.item, "studio-login", address).reset_time
        return max(1, math.ceil(reset - time.time()))

    def failed(self, address: str) -> None:
        self.limiter.hit(self.item, "studio-login", address)


def _cookie_for(context: ShopContext, caller: Caller) -> str:
    payload = f"{caller.key_id or 0}.{int(time.time()) + LOGIN_HOURS * 3600}"
    return f"{payload}.{_sign(context, payload)}"


def _cookie_user(context: ShopContext, cookie: str) -> str | None:
    key_id, _, rest = cookie.partition(".")
    expires, _, signature = rest.partition(".")
    if not (key_id.isdigit() and expires.isdigit() and signature) \
            or not hmac.compare_digest(signature, _sign(context, f"{key_id}.{expires}")) \
            or int(expires) < time.time():
        return None
    # key id 0: the bootstrap SHOPWRIGHT_ADMIN_KEY
    caller = BOOTSTRAP_ADMIN if key_id == "0" else active_caller(context.store, int(key_id))
    return caller.actor if caller is not None and caller.is_admin else None


def _sign(context: ShopContext, payload: str) -> str:
    return hmac.new(context.settings.signing_key(), PURPOSE + payload.encode(),
                    hashlib.sha256).hexdigest()


def _page(shop_name: str, error: str) -> str:
    message = f'<p class="error" role="alert">{error}</p>' if error else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in - shopwright studio</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;max-width:26rem;margin:10vh auto;padding:0 1rem}}
input,button{{font:inherit;padding:.5rem;width:100%;box-sizing:border-box;margin:.25rem 0}}
.error{{color:#a40000}}</style></head>
<body><main><h1>shopwright studio</h1><p>{html.escape(shop_name)}: sign in with an admin key.</p>
{message}<form method="post" action="{LOGIN_PATH}">
<label for="key">Admin key</label>
<input id="key" name="key" type="password" autocomplete="current-password" required autofocus>
<button type="submit">Sign in</button></form></main></body></html>"""
