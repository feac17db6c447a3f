"""The studio's "Copy" and "Email" tabs: generate ad variants and preview a customer's email."""

from __future__ import annotations

import gradio as gr

from gen.ad_copy import CHANNEL_LABELS, CopyOptions
from shop.errors import ShopwrightError
from ui.context import ShopContext

HEADERS = ["#", "source", "copy", "chars", "problems"]


def run_copy(context: ShopContext, product_id: str, channel: str, variants: int,
             audience: str, campaign_id: str) -> list[list]:
    try:
        options = CopyOptions(product_ids=[product_id.strip()], channel=channel,
                              variants=int(variants), audience=audience,
                              campaign_id=campaign_id.strip() or None)
        result = context.generation.copy(options)
    except (ShopwrightError, ValueError) as exc:
        raise gr.Error(str(exc)) from None
    rows = []
    for item in result["products"]:
        for number, variant in enumerate(item["variants"], start=1):
            text = " | ".join(variant["fields"].values())
            chars = " / ".join(str(len(v)) for v in variant["fields"].values())
            rows.append([number, variant["source"], text, chars,
                         "; ".join(variant["problems"]) or "none"])
    return rows


def run_email(context: ShopContext, customer_id: str, campaign_id: str) -> tuple[str, str]:
    try:
        draft = context.generation.email_preview(customer_id.strip(),
                                                 campaign_id.strip() or None)
    except ShopwrightError as exc:
        raise gr.Error(str(exc)) from None
    header = (f"**Subject:** {draft.subject}  \n**Preheader:** {draft.preheader}  \n"
              f"**Products from:** {draft.recommendation_source}  \n**Written by:** "
              f"{draft.source}" + ("" if draft.eligible else "  \n**Not eligible** "
                                   "(no consent or unsubscribed)"))
    return header, draft.html


def copy_tab(context: ShopContext) -> None:
    with gr.Tab("Copy"):
        gr.Markdown("Distinct ad variants for a product; limits and facts are enforced, "
                    "every variant is saved as a draft.")
        with gr.Row():
            product = gr.Textbox(label="Product id", value="P0001", elem_id="copy-product")
            channel = gr.Dropdown(list(CHANNEL_LABELS), value="search", label="Channel",
                                  elem_id="copy-channel")
            variants = gr.Slider(1, 10, value=3, step=1, label="Variants")
        with gr.Row():
            audience = gr.Textbox(label="Audience", placeholder="e.g. weekend hikers")
            campaign = gr.Textbox(label="Campaign id (optional)")
        table = gr.Dataframe(headers=HEADERS, interactive=False, elem_id="copy-variants")
        gr.Button("Generate", variant="primary", elem_id="copy-generate").click(
            lambda *values: run_copy(context, *values),
            inputs=[product, channel, variants, audience, campaign], outputs=table)
    with gr.Tab("Email"):
        gr.Markdown("Preview one customer's personalized email (first name only goes to the "
                    "model; products and reasons come from the recommender).")
        with gr.Row():
            customer = gr.Textbox(label="Customer id", value="C00001", elem_id="email-customer")
            email_campaign = gr.Textbox(label="Campaign id (optional)")
        header = gr.Markdown()
        body = gr.HTML(elem_id="email-html")
        gr.Button("Preview", variant="primary", elem_id="email-preview").click(
            lambda *values: run_email(context, *values), inputs=[customer, email_campaign],
            outputs=[header, body])
