"""One-click unsubscribe (RFC 8058): the URL in every marketing email's List-Unsubscribe header.

RFC 8058: the mail client POSTs `List-Unsubscribe=One-Click` to the link and the customer is
unsubscribed at once, with no login and no further page. GET must not unsubscribe, because mail
scanners and link previews fetch every link in a message; it shows a page whose button sends
the same POST, so a person who clicks the link in the footer can confirm. The token in the
query is signed (shop/unsubscribe.py): a bad, forged or missing one is a 400, never a 500.
"""

from __future__ import annotations

from html import escape

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response

from shop.errors import NotFound, ShopwrightError
from shop.schema import Customer
from shop.unsubscribe import read_token, unsubscribe
from ui.api.deps import Context
from ui.context import ShopContext

router = APIRouter(tags=["unsubscribe"])

ONE_CLICK = "One-Click"
# no referrer: the token in this page's URL must not leak to anything the page loads
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex"><meta name="viewport" content="width=device-width">
<title>{title} - {shop}</title></head>
<body style="font-family:sans-serif;max-width:32em;margin:3em auto;padding:0 1em">
<h1>{title}</h1><p>{message}</p>{form}<p><small>{shop}</small></p></body></html>
"""
# no action attribute: the form posts to this page's own URL, token and all
FORM = """<form method="post"><button type="submit" name="List-Unsubscribe" value="One-Click">
Unsubscribe</button></form>"""
DONE = "You will not get marketing emails from us any more."


def _reply(request: Request, context: ShopContext, status: int, title: str, message: str,
           form: bool = False) -> Response:
    headers = {"Cache-Control": "no-store"}
    accept = request.headers.get("accept", "")
    if "application/json" in accept and "text/html" not in accept:
        body = {"status": title} if status < 400 else {"detail": message}
        return JSONResponse(body, status_code=status, headers=headers)
    page = PAGE.format(title=escape(title), message=escape(message),
                       shop=escape(context.settings.shop_name), form=FORM if form else "")
    return HTMLResponse(page, status_code=status, headers=headers)


def _error(request: Request, context: ShopContext, exc: ShopwrightError) -> Response:
    title = "Link not found" if isinstance(exc, NotFound) else "Invalid link"
    return _reply(request, context, exc.status_code, title, str(exc))


# errors are pages for people, like the answers
PAGES = {code: {"description": text, "content": {"text/html": {}}}
         for code, text in ((400, "Invalid or forged link, or not a one-click body"),
                            (404, "The link's customer is gone"))}


@router.get("/v1/unsubscribe", response_class=HTMLResponse, responses=PAGES)
def confirm_page(request: Request, context: Context, token: str | None = None) -> Response:
    """A page with one button that POSTs the one-click body; changes nothing by itself."""
    try:
        customer_id = read_token(context.settings, token)
        with context.store.session() as session:
            customer = session.get(Customer, customer_id)
            if customer is None:
                raise NotFound("this unsubscribe link is for a customer we no longer have")
            done = customer.unsubscribed_at is not None
    except ShopwrightError as exc:
        return _error(request, context, exc)
    if done:
        return _reply(request, context, 200, "You are unsubscribed", DONE)
    return _reply(request, context, 200, "Unsubscribe",
                  f"Stop marketing emails from {context.settings.shop_name}?", form=True)


@router.post("/v1/unsubscribe", response_class=HTMLResponse, responses=PAGES)
async def one_click(request: Request, context: Context, token: str | None = None) -> Response:
    """RFC 8058: body `List-Unsubscribe=One-Click` (urlencoded or multipart). Idempotent."""
    try:
        customer_id = read_token(context.settings, token)
        try:
            form = await request.form()
        except Exception:  # noqa: BLE001 - a body we cannot parse is the sender's error
            form = {}
        if form.get("List-Unsubscribe") != ONE_CLICK:
            return _reply(request, context, 400, "Invalid request",
                          "send the form body List-Unsubscribe=One-Click to unsubscribe")
        await run_in_threadpool(unsubscribe, context.store, customer_id)
    except ShopwrightError as exc:
        return _error(request, context, exc)
    return _reply(request, context, 200, "You are unsubscribed", DONE)
