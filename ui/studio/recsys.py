"""The studio's "Recommendations" tab: one customer's recommendations with their reasons, and
the customer segments."""

from __future__ import annotations

import gradio as gr
from pydantic import ValidationError

from recsys.serving import ServeOptions
from recsys.training import SEGMENT_HEADERS, segmentation_rows
from shop.errors import ShopwrightError
from ui.context import ShopContext

# "why" is what a customer would read; "evidence" the shares and counts behind it
HEADERS = ["rank", "product", "title", "category", "price", "score", "why", "evidence"]


def recommendation_rows(context: ShopContext, customer_id: str, k: int, category: str,
                        max_price: float | None, max_per_category: int | None) -> tuple[str, list]:
    if not (customer_id or "").strip():
        raise gr.Error("enter a customer id, e.g. C00001")
    try:
        options = ServeOptions(k=int(k), category=category or None, max_price=max_price or None,
                               max_per_category=int(max_per_category) if max_per_category
                               else None, explain=True)
        result = context.recommender.recommend(customer_id.strip(), options)
    except (ShopwrightError, ValidationError) as exc:
        raise gr.Error(str(exc)) from None
    who = ("unknown customer: cold-start recommendations" if not result["known_customer"] else
           "few events: cold-start weighting" if result["cold_start"] else
           f"segment {result['segment']}")
    summary = f"**{customer_id}** — model `{result['model']}` — {who}"
    rows = [[rank, item["product_id"], item["title"], item["category"], item["price"],
             item["score"], "; ".join(item["reason_text"]), "; ".join(item["reason_detail"])]
            for rank, item in enumerate(result["items"], start=1)]
    return summary, rows


def segment_rows(context: ShopContext) -> list[list]:
    try:
        return segmentation_rows(context.recommender.segments())
    except ShopwrightError as exc:
        raise gr.Error(str(exc)) from None


def recsys_tab(context: ShopContext) -> None:
    with gr.Tab("Recommendations"):
        gr.Markdown("Products picked for one customer, each with the evidence behind it.")
        with gr.Row():
            customer = gr.Textbox(label="Customer id", placeholder="C00001",
                                  elem_id="recsys-customer", scale=3)
            button = gr.Button("Recommend", variant="primary", elem_id="recsys-button", scale=1)
        with gr.Row():
            k = gr.Slider(1, 30, value=10, step=1, label="How many")
            category = gr.Textbox(label="Only category", elem_id="recsys-category")
            max_price = gr.Number(label="Max price", value=None)
            per_category = gr.Number(label="At most per category", value=3, precision=0)
        summary = gr.Markdown(elem_id="recsys-summary")
        table = gr.Dataframe(headers=HEADERS, interactive=False, wrap=True,
                             elem_id="recsys-results")
        inputs = [customer, k, category, max_price, per_category]

        def handler(*values):
            return recommendation_rows(context, *values)

        button.click(handler, inputs=inputs, outputs=[summary, table], api_name="recommend")
        customer.submit(handler, inputs=inputs, outputs=[summary, table],
                        api_visibility="private")

        gr.Markdown("### Customer segments\nK-Means on category affinity plus recency, "
                    "frequency and spend; descriptions come from the members' data.")
        segments = gr.Dataframe(headers=SEGMENT_HEADERS, interactive=False, wrap=True,
                                elem_id="recsys-segments")
        gr.Button("Load segments", elem_id="recsys-segments-button").click(
            lambda: segment_rows(context), outputs=segments, api_name="segment_table")
