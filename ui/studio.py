"""The Gradio studio for marketers, mounted at /studio. Each tab is a function in STUDIO_TABS."""

from __future__ import annotations

from typing import Callable

import gradio as gr
from sqlalchemy import func, select

from shop.schema import Customer, Event, KBDocument, Product
from ui.context import ShopContext


def shop_overview(context: ShopContext) -> list[list]:
    with context.store.session() as session:
        counts = [[name, session.scalar(select(func.count()).select_from(table))]
                  for name, table in (("products", Product), ("customers", Customer),
                                      ("events", Event), ("knowledge-base documents", KBDocument))]
        categories = session.execute(
            select(Product.category, func.count()).group_by(Product.category)
            .order_by(func.count().desc())).all()
    return counts + [[f"category: {name}", count] for name, count in categories]


def overview_tab(context: ShopContext) -> None:
    with gr.Tab("Shop"):
        gr.Markdown(f"## {context.settings.shop_name}\nWhat the store holds right now.")
        table = gr.Dataframe(headers=["what", "count"], value=lambda: shop_overview(context),
                             interactive=False, elem_id="shop-overview")
        gr.Button("Refresh", elem_id="refresh-overview").click(
            lambda: shop_overview(context), outputs=table)


from ui.studio_search import search_tab  # noqa: E402
from ui.studio_recsys import recsys_tab  # noqa: E402
from ui.studio_copy import copy_tab  # noqa: E402

STUDIO_TABS: list[Callable[[ShopContext], None]] = [overview_tab, search_tab, recsys_tab, copy_tab]


def build_studio(context: ShopContext) -> gr.Blocks:
    with gr.Blocks(title="shopwright studio") as studio:
        gr.Markdown("# shopwright studio")
        for add_tab in STUDIO_TABS:
            add_tab(context)
    return studio
