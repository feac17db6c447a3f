"""The studio's Reviews tab (ui/studio/reviews.py): it renders in the studio, lists the
reviewed products with the aspects their reviews call poor, and shows one product's aspects as
a table and a bar plot. Fast: a fresh store and a bag-of-words encoder."""

from __future__ import annotations

import gradio as gr
import pytest

from retrieval.aspects import AspectModel
from retrieval.review_aspects import ReviewAspects
from shop.records import ReviewRecord
from shop.reviews import upsert_reviews
from shop.schema import Customer, Product
from shop.settings import Settings
from tests.test_review_aspects import JACKET_REVIEWS, WHEN, bag_of_words, tiny_lexicon
from ui.studio.reviews import ASPECT_HEADERS, aspect_view, product_rows, reviews_tab


def no_progress(*_args, **_kwargs) -> None:
    return None


@pytest.fixture
def context(tmp_path, model_cache):
    from ui.context import ShopContext

    context = ShopContext(Settings(data_dir=tmp_path / "data", model_cache_dir=model_cache,
                                   admin_key="secret"))
    context.__dict__["review_aspects"] = ReviewAspects(
        context.store, AspectModel(bag_of_words, lexicon=tiny_lexicon))
    return context


def fill(context) -> None:
    with context.store.session() as session:
        session.add(Product(id="P1", title="Ember Jacket", category="rain-jackets", price=249.0))
        session.add_all(Customer(id=f"C{n}", first_name=f"N{n}") for n in range(1, 5))
    upsert_reviews(context.store, [
        ReviewRecord(customer_id=r.customer_id, product_id="P1", rating=r.rating, text=r.text,
                     created_at=WHEN) for r in JACKET_REVIEWS])


def test_the_tab_is_part_of_the_studio_and_renders(context):
    from ui.studio.app import STUDIO_TABS, build_studio

    assert reviews_tab in STUDIO_TABS
    with gr.Blocks() as blocks:
        reviews_tab(context)
    ids = {c.get("props", {}).get("elem_id") for c in blocks.get_config_file()["components"]}
    assert {"reviews-load", "reviews-products", "reviews-aspects",
            "reviews-aspects-plot"} <= ids
    studio = build_studio(context)
    labels = {c.get("props", {}).get("label") for c in studio.get_config_file()["components"]}
    assert "Reviews" in labels


def test_without_reviews_the_tab_says_how_to_load_them(context):
    said, rows = product_rows(context, no_progress)
    assert "shopwright ingest reviews" in said and rows == []
    with pytest.raises(gr.Error, match="enter a product id"):
        aspect_view(context, " ", no_progress)


def test_products_and_one_products_aspects_are_shown(context):
    fill(context)
    said, rows = product_rows(context, no_progress)
    assert "**4 reviews**" in said
    assert rows == [["P1", "Ember Jacket", 4, 2.25, "fit"]]
    summary, table, bars = aspect_view(context, "P1", no_progress)
    assert "4 reviews" in summary and "**Poor in reviews:** fit" in summary
    assert len(table[0]) == len(ASPECT_HEADERS)
    assert [(row[0], row[1], row[5]) for row in table] == [("fit", 4, "poor"),
                                                          ("delivery", 3, "mixed")]
    assert list(bars["aspect"]) == ["fit", "delivery"] and bars["sentiment"].iloc[0] < 0
    nothing, empty, no_bars = aspect_view(context, "P9", no_progress)
    assert "no reviews" in nothing and empty == [] and no_bars.empty
