"""The studio's "Reviews" tab: what customers' reviews say of each product's fit, size,
quality, delivery ... (retrieval/review_aspects.py), the aspects they call poor (which ad copy
is kept from praising, gen/checks/aspect_praise.py), and the review clauses behind each verdict.
"""

from __future__ import annotations

import gradio as gr
import pandas as pd

from shop.reviews import count_reviews, review_counts
from ui.context import ShopContext
from ui.studio.common import PROGRESS, edge, needed

PRODUCT_HEADERS = ["product", "title", "reviews", "mean rating", "poor in reviews"]
ASPECT_HEADERS = ["aspect", "mentions", "positive", "negative", "sentiment", "verdict",
                  "what reviewers say"]
LISTED = 50  # products in the overview, most reviewed first


@edge
def product_rows(context: ShopContext, progress=PROGRESS) -> tuple[str, list[list]]:
    """The most reviewed products, each with the aspects its reviews call poor."""
    total = count_reviews(context.store)
    if not total:
        return ("No reviews yet: load them with `shopwright ingest reviews FILE` or "
                "`POST /v1/reviews`."), []
    counts = review_counts(context.store, LISTED)
    progress(0.3, desc="reading the reviews")
    summaries = {s.product_id: s for s in context.review_aspects.products(
        [pid for pid, *_ in counts])}
    minimum = context.review_aspects.options.min_mentions
    rows = [[pid, title, count, mean, ", ".join(a.name for a in summaries[pid].poor(minimum))]
            for pid, title, count, mean in counts]
    said = (f"**{total} reviews**; the {len(rows)} most reviewed products. Aspects called poor "
            f"by at least {minimum} review mentions are kept out of praise in generated copy.")
    return said, rows


@edge
def aspect_view(context: ShopContext, product_id: str, progress=PROGRESS
                ) -> tuple[str, list[list], pd.DataFrame]:
    product_id = needed(product_id, "a product id", "P0001")
    progress(0.3, desc="reading the reviews")
    summary = context.review_aspects.product(product_id)
    if not summary.reviews:
        return f"**{product_id}** has no reviews.", [], _bars([])
    poor = [a.name for a in summary.poor(context.review_aspects.options.min_mentions)]
    said = (f"**{product_id}**: {summary.reviews} reviews, mean rating "
            f"{summary.mean_rating:.1f} / 5  \n"
            + (f"**Poor in reviews:** {', '.join(poor)}: generated copy will not praise "
               f"{'it' if len(poor) == 1 else 'them'}." if poor
               else "No aspect is called poor often enough to hold back copy."))
    rows = [[a.name, a.mentions, a.positive, a.negative, a.sentiment, a.label,
             " | ".join(a.examples)] for a in summary.aspects]
    return said, rows, _bars(summary.aspects)


def _bars(aspects) -> pd.DataFrame:
    return pd.DataFrame([{"aspect": a.name, "sentiment": a.sentiment, "verdict": a.label}
                         for a in aspects], columns=["aspect", "sentiment", "verdict"])


def reviews_tab(context: ShopContext) -> None:
    with gr.Tab("Reviews"):
        gr.Markdown("What reviews say of each product, aspect by aspect: each review clause "
                    "is matched to the aspect it talks about and weighed by its words and "
                    "its stars (-1 poor … +1 good).")
        load = gr.Button("Load reviewed products", variant="primary", elem_id="reviews-load")
        overview = gr.Markdown(elem_id="reviews-overview")
        products = gr.Dataframe(headers=PRODUCT_HEADERS, interactive=False, wrap=True,
                                elem_id="reviews-products")
        with gr.Row():
            product = gr.Textbox(label="Product id", placeholder="P0001",
                                 elem_id="reviews-product", scale=3)
            show = gr.Button("Show aspects", elem_id="reviews-show", scale=1)
        summary = gr.Markdown(elem_id="reviews-summary")
        bars = gr.BarPlot(x="aspect", y="sentiment", color="verdict", x_label_angle=-30,
                          height=300, label="Sentiment per aspect",
                          elem_id="reviews-aspects-plot")
        table = gr.Dataframe(headers=ASPECT_HEADERS, interactive=False, wrap=True,
                             elem_id="reviews-aspects")

        def listed(progress=PROGRESS):
            return product_rows(context, progress)

        def aspects(product_id: str, progress=PROGRESS):
            return aspect_view(context, product_id, progress)

        def picked(event: gr.SelectData):
            return event.row_value[0]

        load.click(listed, outputs=[overview, products], api_name="reviewed_products")
        show.click(aspects, inputs=product, outputs=[summary, table, bars],
                   api_name="product_aspects")
        product.submit(aspects, inputs=product, outputs=[summary, table, bars],
                       api_visibility="private")
        products.select(picked, outputs=product).then(
            aspects, inputs=product, outputs=[summary, table, bars], api_visibility="private")
