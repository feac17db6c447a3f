"""Customer-facing reasons (recsys/reason_text.py): true of the customer's events, short, in
their language, and never statistics: no percentages, ranks or segment descriptions."""

from __future__ import annotations

import re

import numpy as np
import pytest

from recsys.interactions import EventLog, ItemTable, build_interactions
from recsys.reason_text import MESSAGES, detail, localize, phrase
from recsys.reasons import Explainer
from shop.lexicon import LANGUAGES

SEGMENT = "frequent shoppers (47 events, 12% of customers)"
EVERY_KIND = [
    {"kind": "bought_together", "product_id": "i0", "title": "Orbit Lamp", "customers": 14},
    {"kind": "often_together", "product_id": "i0", "title": "Orbit Lamp", "similarity": 0.41},
    {"kind": "similar_to_viewed", "product_id": "i0", "title": "Orbit Lamp", "similarity": 0.8},
    {"kind": "similar_to_bought", "product_id": "i0", "title": "Orbit Lamp", "similarity": 0.8},
    {"kind": "similar_to_item", "product_id": "i0", "title": "Orbit Lamp", "similarity": 0.7},
    {"kind": "bought_together", "product_id": "i0", "title": "Orbit Lamp", "customers": 14,
     "share": 0.62, "model": "item_knn", "event": "bought"},  # from the model's split
    {"kind": "popular", "rank": 3, "share": 0.4, "model": "popularity"},
    {"kind": "popular_in_segment", "segment": 3, "segment_name": SEGMENT, "rank": 20},
    {"kind": "trending", "rank": 4, "recent_events": 31},
    {"kind": "popular", "rank": 2},
    {"kind": "boosted"},
    {"kind": "something_new"},
]


@pytest.mark.parametrize("language", LANGUAGES)
def test_customer_reasons_hold_no_percentage_rank_or_segment(language):
    for reason in EVERY_KIND:
        text = phrase(reason, language)
        assert text and not re.search(r"\d|%|#", text), (reason["kind"], text)
        assert "shoppers (" not in text and "segment" not in text.lower()
        assert len(text.split()) <= 8
    # the detail stays for the shop's own people
    segment = next(r for r in EVERY_KIND if r["kind"] == "popular_in_segment")
    assert "#20" in detail(segment) and SEGMENT in detail(segment)
    assert detail(EVERY_KIND[5]) == ("62% of the score from Orbit Lamp (bought), item-kNN; "
                                     "bought together by 14 customers")
    assert detail(EVERY_KIND[6]) == "40% of the score from #3 most popular item, popularity"


def test_every_kind_reads_in_every_language():
    english = {kind: phrase({"kind": kind, "title": "Orbit Lamp"}, "en") for kind in MESSAGES}
    assert english["similar_to_bought"] == "Because you bought Orbit Lamp"
    assert english["popular_in_segment"] == "Popular with shoppers like you"
    for language in set(LANGUAGES) - {"en"}:
        for kind in MESSAGES:
            text = phrase({"kind": kind, "title": "Orbit Lamp"}, language)
            assert text != english[kind], (language, kind)
    assert phrase({"kind": "similar_to_viewed", "title": "Orbit Lamp"}, "de-DE") == \
        "Weil du dir Orbit Lamp angesehen hast"
    assert localize("Back in stock", "fr") == "De nouveau en stock"
    assert localize("Some text a model wrote", "sv") == "Utvald för dig"  # never half English
    assert localize("Some text a model wrote", "en") == "Some text a model wrote"


def _shop() -> tuple[Explainer, object]:
    """Six items; i1 is i0's near twin by content. u0 only ever purchased i0; u1 only viewed it;
    the others view and buy both, so i0 and i1 are bought together."""
    events = [("u0", "i0", "purchase"), ("u1", "i0", "view")]
    for n in range(2, 8):
        events += [(f"u{n}", "i0", "purchase"), (f"u{n}", "i1", "purchase"),
                   (f"u{n}", f"i{2 + n % 4}", "view")]
    users, items, types = (np.asarray(column, dtype=object) for column in zip(*events))
    log = EventLog(users, items, np.ones(len(events), dtype=np.float32),
                   np.full(len(events), 1.7e9), types)
    titles = ["Orbit Lamp", "Orbit Lamp Mini", "Halo Shade", "Cord Set", "Bulb Pack", "Dimmer"]
    catalog = ItemTable(np.asarray([f"i{n}" for n in range(6)], dtype=object), titles, titles)
    data = build_interactions(log, items=catalog)
    embeddings = np.eye(6, dtype=np.float32)
    embeddings[1] = embeddings[0] * 0.9 + embeddings[1] * 0.1
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    data = data.with_segments(np.zeros(data.n_users, dtype=np.int64))
    return Explainer(data, embeddings=embeddings, log=log, segment_names={0: SEGMENT}), data


def test_a_customer_who_only_purchased_is_never_told_they_viewed():
    explainer, data = _shop()
    u0 = data.user_index["u0"]
    history, bought = data.matrix[u0].indices, data.purchases[u0].indices
    reasons = explainer.explain(data.item_index["i1"], history, bought, 0)
    kinds = [r["kind"] for r in reasons]
    assert "similar_to_viewed" not in kinds and "similar_to_bought" in kinds
    for language in LANGUAGES:
        texts = [phrase(r, language) for r in reasons]
        assert not any(word in t.lower() for t in texts
                       for word in ("viewed", "angesehen", "consulté", "bekeken", "tittat",
                                    "viste"))
    assert "Because you bought Orbit Lamp" in [phrase(r) for r in reasons]
    # every item, every reason for this customer: nothing about viewing
    for item in range(data.n_items):
        assert all(r["kind"] != "similar_to_viewed"
                   for r in explainer.explain(item, history, bought, 0))


def test_a_customer_who_viewed_is_told_so():
    explainer, data = _shop()
    u1 = data.user_index["u1"]
    history, bought = data.matrix[u1].indices, data.purchases[u1].indices
    reasons = explainer.explain(data.item_index["i1"], history, bought, 0,
                                viewed=np.array([data.item_index["i0"]]))  # u1's one view
    assert "Because you viewed Orbit Lamp" in [phrase(r) for r in reasons]
    # told nothing about views, the explainer never claims one
    unknown = explainer.explain(data.item_index["i1"], history, bought, 0)
    assert "similar_to_viewed" not in [r["kind"] for r in unknown]
    assert "Similar to Orbit Lamp" in [phrase(r) for r in unknown]
