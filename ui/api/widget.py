"""The embeddable chat widget: the script a shop puts on its pages, and a demo shop page.

    <script src="https://SHOPWRIGHT_HOST/widget.js" data-title="Ask us" async></script>

The script talks to /v1/chat on the host it was loaded from; which sites may do that
cross-origin is `settings.widget_origins` (see ui/app.py).
"""

from __future__ import annotations

import hashlib
import html
from functools import lru_cache
from pathlib import Path
from string import Template

from fastapi import APIRouter, Header, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select

from gen.tasks.text import cut_words
from shop.schema import Product
from ui.api.deps import Context

WIDGET_DIR = Path(__file__).resolve().parent.parent / "widget"
# Shops embed the script on every page: browsers revalidate it after 5 minutes (a cheap 304
# by ETag), so an upgraded widget reaches shoppers quickly.
SCRIPT_CACHE = "public, max-age=300, must-revalidate"
NAV_CATEGORIES = 5  # the demo page's nav and cards: the shop's biggest categories

router = APIRouter(tags=["widget"], include_in_schema=False)


@lru_cache(maxsize=1)
def widget_script() -> tuple[bytes, str]:
    """The script's bytes and ETag, read once per process."""
    body = (WIDGET_DIR / "widget.js").read_bytes()
    return body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


@router.get("/widget.js", name="widget_js")
def widget_js(if_none_match: str | None = Header(default=None)) -> Response:
    body, etag = widget_script()
    headers = {"Cache-Control": SCRIPT_CACHE, "ETag": etag,
               "X-Content-Type-Options": "nosniff",
               # loaded by <script> from the shop's own origin, also under COEP
               "Cross-Origin-Resource-Policy": "cross-origin"}
    if if_none_match and etag in [tag.strip() for tag in if_none_match.split(",")]:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="text/javascript; charset=utf-8", headers=headers)


@router.get("/widget/placeholder.svg")
def placeholder() -> Response:
    """The picture of a product card whose product has no `image_url`."""
    return Response((WIDGET_DIR / "placeholder.svg").read_bytes(), media_type="image/svg+xml",
                    headers={"Cache-Control": "public, max-age=86400",
                             "Cross-Origin-Resource-Policy": "cross-origin"})


def shop_window(store, n: int = NAV_CATEGORIES) -> tuple[list[str], list[Product]]:
    """The shop's n categories with the most listed products, and one product of each (in
    stock first): what the demo page's nav and cards show."""
    listed = Product.archived_at.is_(None)
    with store.session() as session:
        categories = list(session.scalars(
            select(Product.category).where(listed).group_by(Product.category)
            .order_by(func.count().desc(), Product.category).limit(n)))
        products = [session.scalars(
            select(Product).where(listed, Product.category == category)
            .order_by(Product.stock <= 0, Product.id).limit(1)).one() for category in categories]
    return categories, products


def category_label(slug: str) -> str:
    """'garden-tools' -> 'Garden tools'."""
    return slug.replace("-", " ").replace("_", " ").strip().capitalize()


def _demo_sections(store) -> tuple[str, str]:
    """(nav, cards) of the demo page as escaped HTML."""
    categories, products = shop_window(store)
    nav = " · ".join([*(html.escape(category_label(c)) for c in categories), "Help"])
    cards = "\n".join(
        f'      <div class="card"><h3>{html.escape(p.title)}</h3>'
        f"<p>{html.escape(cut_words(p.description, 120))}</p></div>" for p in products)
    return nav, cards or "      <p>No products yet: ingest a catalog to see some here.</p>"


@router.get("/widget/demo", response_class=HTMLResponse)
def widget_demo(request: Request, context: Context) -> HTMLResponse:
    """A stand-in page of the shop's own site, its nav and cards from the shop's catalog, that
    embeds the widget the way the real site would."""
    page = Template((WIDGET_DIR / "demo.html").read_text(encoding="utf-8"))
    settings = context.settings
    nav, cards = _demo_sections(context.store)
    return HTMLResponse(page.substitute(
        shop_name=html.escape(settings.shop_name), nav=nav, cards=cards,
        widget_src=html.escape(str(request.url_for("widget_js"))),
        widget_title=html.escape(f"Ask {settings.shop_name}"),
    ), headers={"Cache-Control": "no-cache"})
