"""Aspect sentiment from reviews (shop/lexicon/aspects.py, retrieval/aspects.py,
retrieval/review_aspects.py) and the copy check that keeps ad copy from praising what
reviews call poor (gen/checks/aspect_praise.py).

Fast tests use a bag-of-words encoder over a tiny lexicon; the real MiniLM (loaded once per
session) reads the shipped lexicon in English and German, and the `slow` test runs the whole
labelled evaluation.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime

import numpy as np
import pytest

from gen.checks.aspect_praise import AspectPraiseCheck, praise_check
from gen.checks.claims import ClaimVocabulary
from gen.checks.guardrails import Facts, ProductFact
from gen.engines import FakeEngine
from gen.prompts import default_library
from gen.tasks.ad_copy import AdCopywriter, CopyOptions
from retrieval.aspects import AspectModel, AspectOptions
from retrieval.review_aspects import ReviewAspects, sentence_sentiment, summarize
from shop.lexicon.aspects import (
    Aspect,
    AspectLexicon,
    aspect_lexicon,
    aspect_names,
    clauses,
    sentences,
)
from shop.privacy import erase_customer
from shop.records import ReviewRecord
from shop.reviews import ReviewView, upsert_reviews
from shop.schema import Customer, Product

WHEN = datetime(2026, 3, 1, tzinfo=UTC)


def bag_of_words(texts) -> np.ndarray:
    """A stand-in for MiniLM: each word hashes to one of 256 dimensions."""
    out = np.zeros((len(texts), 256), dtype=np.float32)
    for row, text in enumerate(texts):
        for word in re.findall(r"[a-z]+", text.lower()):
            out[row, int(hashlib.md5(word.encode()).hexdigest(), 16) % 256] += 1.0
        out[row, 0] += 1e-3
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def tiny_lexicon(language: str) -> AspectLexicon:
    return AspectLexicon("en", {
        "fit": Aspect("fit", "fit", ("the fit",), ("fits perfectly",), ("fits badly",)),
        "delivery": Aspect("delivery", "delivery", ("the delivery",), ("fast delivery",),
                           ("slow delivery",)),
        "general": Aspect("general", "general", ("i bought it",), ("love it",),
                          ("hate it",))}, ("but",))


@pytest.fixture
def model() -> AspectModel:
    return AspectModel(bag_of_words, lexicon=tiny_lexicon)


def review(rating: int, text: str, number: int = 0) -> ReviewView:
    return ReviewView(f"R{number}", f"C{number}", "P1", rating, text, "en", WHEN)


JACKET_REVIEWS = [review(5, "It fits perfectly. Fast delivery.", 1),
                  review(1, "It fits badly. Slow delivery.", 2),
                  review(2, "It fits badly, but fast delivery.", 3),
                  review(1, "It fits badly.", 4)]


# ---- the lexicon ---------------------------------------------------------------------------


def test_reviews_split_into_sentences_and_contrast_clauses():
    assert clauses("Great quality but the size runs small! Delivery was fast.", "en") == [
        "Great quality", "but the size runs small!", "Delivery was fast."]
    assert clauses("Tolle Qualität, aber fällt klein aus. Z.B. die Ärmel.", "de") == [
        "Tolle Qualität,", "aber fällt klein aus.", "Z.B. die Ärmel."]
    assert clauses("Nice thick fabric though.", "en") == ["Nice thick fabric though."]
    assert sentences("It weighs 1.5 kg.\nLove it") == ["It weighs 1.5 kg.", "Love it"]


def test_the_shipped_lexicon_has_every_aspect_in_english_and_german():
    english, german = aspect_lexicon("en"), aspect_lexicon("de-AT")
    assert english.reported == german.reported
    assert {"fit", "size", "quality", "material", "comfort", "durability", "value",
            "delivery", "packaging", "service"} <= set(english.reported)
    assert "general" in english.aspects and "general" not in english.reported
    assert all(a.about and a.good and a.poor for a in german.aspects.values())
    assert aspect_names("de")["fit"] == "Passform"
    assert aspect_lexicon("xx").language == "en"  # no section: English


# ---- assigning and aggregating -------------------------------------------------------------


def test_sentences_go_to_the_nearest_aspect_with_their_polarity(model):
    found = model.classify(["It fits perfectly", "It fits badly", "Slow delivery again",
                            "I bought it for my son", "Quantum physics"])
    assert [f.aspect for f in found] == ["fit", "fit", "delivery", None, None]
    assert found[0].polarity > 0 > found[1].polarity and found[2].polarity < 0
    strict = model.with_options(AspectOptions(threshold=0.99))
    assert [f.aspect for f in strict.classify(["It fits perfectly"])] == [None]


def test_the_sentiment_blends_the_clause_and_the_stars():
    assert sentence_sentiment(1.0, 5, 0.5) == 1.0
    assert sentence_sentiment(1.0, 1, 0.5) == 0.0
    assert sentence_sentiment(-1.0, 3, 0.5) == -0.5
    assert sentence_sentiment(0.4, None, 0.5) == 0.4


def test_a_product_summary_counts_mentions_and_labels_each_aspect(model):
    summary = summarize("P1", JACKET_REVIEWS, model)
    assert summary.reviews == 4 and summary.mean_rating == 2.25
    by_key = {a.aspect: a for a in summary.aspects}
    assert list(by_key) == ["fit", "delivery"]  # the lexicon's order
    fit, delivery = by_key["fit"], by_key["delivery"]
    assert (fit.mentions, fit.positive, fit.negative, fit.label) == (4, 1, 3, "poor")
    assert fit.sentiment < -0.25 and fit.examples[0].startswith("It fits badly")
    assert (delivery.mentions, delivery.label) == (3, "mixed")
    assert [a.aspect for a in summary.poor(min_mentions=2)] == ["fit"]
    assert summary.poor(min_mentions=5) == []
    assert "3 of 4 review mentions negative" in fit.evidence()


@pytest.fixture
def reviewed(store):
    with store.session() as session:
        session.add(Product(id="P1", title="Ember Jacket", category="rain-jackets",
                            price=249.0, stock=4))
        session.add(Product(id="P2", title="Quiet Boots", category="boots", price=99.0))
        session.add_all(Customer(id=f"C{n}", first_name=f"N{n}") for n in range(1, 5))
    upsert_reviews(store, [ReviewRecord(customer_id=r.customer_id, product_id="P1",
                                        rating=r.rating, text=r.text, created_at=WHEN)
                           for r in JACKET_REVIEWS])
    return store


def test_summaries_follow_the_stored_reviews(reviewed, model):
    aspects = ReviewAspects(reviewed, model)
    assert aspects.product("P2").aspects == []
    assert aspects.poor_aspects("P1") == {
        "fit": "fit (3 of 4 review mentions negative, mean -0.44)"}
    assert aspects.product("P1") is aspects.product("P1")  # the same reviews: cached
    assert [s.product_id for s in aspects.products()] == ["P1"]
    for customer in ("C2", "C3", "C4"):  # the critics erased: their words leave the summary
        erase_customer(reviewed, customer, "test")
    after = aspects.product("P1")
    assert after.reviews == 1 and aspects.poor_aspects("P1") == {}
    assert all("badly" not in e for a in after.aspects for e in a.examples)
    aspects.forget()  # what an erasure calls: no erased words stay in memory either
    assert not any("badly" in text for text in model._vectors)
    assert aspects.product("P1").reviews == 1


# ---- the copy check -----------------------------------------------------------------------


def test_the_check_flags_praise_of_a_poor_aspect_only(reviewed, model):
    check = praise_check(ReviewAspects(reviewed, model), "P1")
    assert isinstance(check, AspectPraiseCheck)
    found = check.violations("It fits perfectly. Fast delivery for every order.")
    assert [(v.kind, v.sentence) for v in found] == [("reviews", "It fits perfectly.")]
    assert "praises fit (3 of 4 review mentions negative" in str(found[0])
    assert "which reviews call poor" in str(found[0])
    assert check.violations("Fast delivery for every order.") == []  # mixed, not poor
    assert check.violations("It fits badly, we know.") == []  # no praise
    assert praise_check(ReviewAspects(reviewed, model), "P2") is None  # no poor aspect
    assert praise_check(None, "P1") is None


def test_ad_copy_drops_the_praise_reviews_contradict(reviewed, model):
    library = default_library()
    engine = FakeEngine(replies=[
        ("HEADLINE: Ember Jacket\nDESCRIPTION: It fits perfectly. The Ember Jacket keeps "
         "the rain out on every walk."),
        ("HEADLINE: Fits perfectly\nDESCRIPTION: It fits perfectly, every time you wear the "
         "Ember Jacket.")])
    writer = AdCopywriter(engine, library, library.brand("default", "Shop"), {"example.com"},
                          ClaimVocabulary.builtin())
    facts = Facts([ProductFact("P1", "Ember Jacket", 249.0, text="A jacket for rain.")])
    check = praise_check(ReviewAspects(reviewed, model), "P1")
    first, second = writer.write(CopyOptions(product_ids=["P1"], variants=2, candidates=1),
                                 facts, "rain-jackets", checks=[check])
    assert first.source == "repaired"
    assert first.fields["description"] == "The Ember Jacket keeps the rain out on every walk."
    assert any(c.startswith("reviews:") for c in first.claims_before)
    assert second.source in ("fallback", "cut")  # nothing left once the praise is gone
    for variant in (first, second):
        assert "perfectly" not in str(variant.fields).lower() and variant.problems == []


# ---- the real model ----------------------------------------------------------------------


def test_minilm_reads_aspects_in_english_and_german(real_embedder):
    model = AspectModel(lambda texts: real_embedder.model.encode(
        list(texts), normalize_embeddings=True))
    english = model.classify(["Runs small, I had to order a size up.",
                              "The parcel took three weeks to arrive.",
                              "Cheaply made, the stitching came apart."], "en")
    assert [f.aspect for f in english] == ["size", "delivery", "quality"]
    assert all(f.polarity < 0 for f in english)
    german = model.classify(["Die Lieferung kam schon am nächsten Tag.",
                             "Der Kundenservice hat nie geantwortet."], "de")
    assert [f.aspect for f in german] == ["delivery", "service"]
    assert german[0].polarity > 0 > german[1].polarity
    assert model.praises(["Beautifully made, with great attention to detail.",
                          "Sign up for our newsletter."], "en") == ["quality", None]


@pytest.mark.slow
def test_the_labelled_evaluation_keeps_its_figures(real_embedder):
    from retrieval.aspects_eval import evaluate

    model = AspectModel(lambda texts: real_embedder.model.encode(
        list(texts), normalize_embeddings=True))
    report = evaluate(model)
    assert report["labelled"]["reviews"] == 100
    assert report["assignment_b"]["accuracy"] >= 0.70
    assert report["polarity_b"]["blend"] >= max(report["polarity_b"]["stars_only"],
                                                report["polarity_b"]["clause_only"])
