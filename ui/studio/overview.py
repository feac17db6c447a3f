"""The studio's "Shop" tab: what the store holds, and how shoppers behave, at a glance."""

from __future__ import annotations

import gradio as gr
import pandas as pd
from sqlalchemy import func, select

from shop.schema import Customer, Event, KBDocument, Product
from ui.context import ShopContext
from ui.studio.common import PROGRESS

FUNNEL = ("view", "add_to_cart", "purchase")
TOP_CATEGORIES = 10


def shop_overview(context: ShopContext) -> list[list]:
    with context.store.session() as session:
        counts = [[name, session.scalar(select(func.count()).select_from(table))]
                  for name, table in (("products", Product), ("customers", Customer),
                                      ("events", Event), ("knowledge-base documents", KBDocument))]
        categories = session.execute(
            select(Product.category, func.count()).group_by(Product.category)
            .order_by(func.count().desc())).all()
    return counts + [[f"category: {name}", count] for name, count in categories]


def events_per_day(context: ShopContext) -> pd.DataFrame:
    day = func.date(Event.ts)
    with context.store.session() as session:
        rows = session.execute(select(day, Event.type, func.count())
                               .group_by(day, Event.type).order_by(day)).all()
    frame = pd.DataFrame(rows, columns=["day", "type", "events"])
    frame["day"] = pd.to_datetime(frame["day"])
    return frame


def top_categories(context: ShopContext) -> pd.DataFrame:
    """Categories by events on their products (what shoppers look at, not what is stocked)."""
    with context.store.session() as session:
        rows = session.execute(select(Product.category, func.count())
                               .join(Event, Event.product_id == Product.id)
                               .group_by(Product.category).order_by(func.count().desc())
                               .limit(TOP_CATEGORIES)).all()
    return pd.DataFrame(rows, columns=["category", "events"])


def funnel(context: ShopContext) -> pd.DataFrame:
    """Customers who viewed, added to cart and bought, each step with its share of viewers."""
    with context.store.session() as session:
        reached = dict(session.execute(
            select(Event.type, func.count(Event.customer_id.distinct()))
            .where(Event.type.in_(FUNNEL)).group_by(Event.type)).all())
    viewers = reached.get("view", 0) or 1
    return pd.DataFrame([{"step": f"{n}. {step}", "customers": reached.get(step, 0),
                          "share of viewers": round(reached.get(step, 0) / viewers, 3)}
                         for n, step in enumerate(FUNNEL, start=1)])


def plots(context: ShopContext, progress=PROGRESS):
    progress(0.2, desc="counting events")
    return events_per_day(context), top_categories(context), funnel(context)


def overview_tab(context: ShopContext) -> None:
    with gr.Tab("Shop"):
        gr.Markdown(f"## {context.settings.shop_name}\nWhat the store holds right now.")
        with gr.Row():
            table = gr.Dataframe(headers=["what", "count"], value=lambda: shop_overview(context),
                                 interactive=False, elem_id="shop-overview", scale=1)
            per_day = gr.LinePlot(lambda: events_per_day(context), x="day", y="events",
                                  color="type", height=300, label="Events per day by type",
                                  elem_id="shop-events", scale=2)
        with gr.Row():
            categories = gr.BarPlot(lambda: top_categories(context), x="category",
                                    y="events", sort="-y", y_lim=[0, None], height=300,
                                    x_label_angle=-30,
                                    label="Top categories by events",
                                    elem_id="shop-categories")
            steps = gr.BarPlot(lambda: funnel(context), x="step", y="customers", y_lim=[0, None],
                               tooltip=["customers", "share of viewers"], height=300,
                               label="Conversion funnel (customers)", elem_id="shop-funnel")
        gr.Button("Refresh", elem_id="refresh-overview").click(
            lambda: shop_overview(context), outputs=table, api_name="shop_overview").then(
            lambda progress=PROGRESS: plots(context, progress),
            outputs=[per_day, categories, steps], api_name="shop_plots")
