"""Ratings as feedback for the recommender (recsys/review_feedback.py): good ratings add an
interaction, poor ones add none and are listed for serving to leave out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from recsys.interactions import EventLog, InteractionOptions, build_interactions
from recsys.review_feedback import (
    REVIEW_EVENT_WEIGHTS,
    ReviewFeedbackOptions,
    low_rated,
    review_log,
    review_type,
    review_weight,
    with_reviews,
)
from recsys.store_data import log_from_store
from shop.records import ReviewRecord
from shop.reviews import upsert_reviews
from shop.schema import Customer, Event, Product

START = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
def shop(store):
    with store.session() as session:
        session.add_all(Product(id=f"P{i}", title=f"Item {i}", category="misc", price=10.0,
                                stock=3) for i in range(1, 5))
        session.add_all(Customer(id=f"C{c}", first_name=f"N{c}") for c in (1, 2))
        session.flush()
        session.add_all(Event(idempotency_key=f"e{n}", customer_id="C1", type="purchase",
                              product_id=f"P{n}", ts=START + timedelta(days=n))
                        for n in (1, 2))
    upsert_reviews(store, [
        ReviewRecord(customer_id="C1", product_id="P1", rating=5, text="great",
                     created_at=START + timedelta(days=3)),
        ReviewRecord(customer_id="C1", product_id="P2", rating=1, text="broke",
                     created_at=START + timedelta(days=4)),
        ReviewRecord(customer_id="C2", product_id="P3", rating=4, created_at=START),
        ReviewRecord(customer_id="C2", product_id="P4", rating=3, created_at=START),
        # C2 changed their mind about P3 later: the latest review is what counts
        ReviewRecord(customer_id="C2", product_id="P3", rating=2,
                     created_at=START + timedelta(days=9)),
    ])
    return store


@pytest.mark.parametrize(("rating", "weight"), [(5, 3.0), (4, 1.5), (3, 0.0), (2, 0.0),
                                                 (1, 0.0)])
def test_only_good_ratings_weigh_anything(rating, weight):
    assert review_weight(rating) == weight


def test_the_types_carry_the_rating_so_weights_can_be_read_back_by_type(shop):
    log = review_log(shop)  # what a reweight by event_weights (recsys/tuning.py) recomputes
    defaults = InteractionOptions().event_weights
    assert {t: defaults[t] for t in REVIEW_EVENT_WEIGHTS} == REVIEW_EVENT_WEIGHTS
    by_type = [REVIEW_EVENT_WEIGHTS.get(t, 0.0) for t in log.types]
    assert np.array_equal(np.asarray(by_type, dtype=np.float32), log.weights)
    assert {review_type(r): review_weight(r) for r in (4, 5)} == REVIEW_EVENT_WEIGHTS


def test_weights_are_options_and_never_negative():
    options = ReviewFeedbackOptions(rating_weights={"5": 2.0, "1": -4.0})
    assert review_weight(5, options) == 2.0 and review_weight(1, options) == 0.0
    with pytest.raises(ValueError):
        ReviewFeedbackOptions(unknown=1)


def test_reviews_become_log_rows_of_type_review_in_time_order(shop):
    log = review_log(shop)
    assert len(log) == 5
    assert set(log.types) == {"review:5", "review:4", "review:3", "review:2", "review:1"}
    assert list(log.timestamps) == sorted(log.timestamps)
    weights = {(u, i, float(w)) for u, i, w in zip(log.user_ids, log.item_ids, log.weights)}
    assert ("C1", "P1", 3.0) in weights and ("C1", "P2", 0.0) in weights
    assert ("C2", "P3", 1.5) in weights and ("C2", "P4", 0.0) in weights

    merged = log_from_store(shop)  # the store's events with the reviews merged in
    assert len(merged) == 7 and list(merged.timestamps) == sorted(merged.timestamps)
    assert list(merged.types).count("purchase") == 2


def test_a_poor_rating_is_never_a_positive_interaction(shop):
    interactions = build_interactions(log_from_store(shop))
    matrix = interactions.matrix
    row = interactions.user_index["C2"]
    liked = {interactions.item_ids[j] for j in matrix[row].indices}
    assert liked == {"P3"}  # the 4 of day 0 counts; the 3 of P4 and the later 2 add nothing
    c1 = interactions.user_index["C1"]
    p1, p2 = interactions.item_index["P1"], interactions.item_index["P2"]
    # the purchase of P2 stays (it happened, and keeps P2 out of C1's picks), the 1 adds 0
    assert matrix[c1, p1] > matrix[c1, p2] > 0


def test_low_rated_lists_the_latest_poor_verdicts(shop):
    assert low_rated(shop) == {"C1": {"P2"}, "C2": {"P3"}}
    assert low_rated(shop, ReviewFeedbackOptions(low_rating=3)) == {"C1": {"P2"},
                                                                    "C2": {"P3", "P4"}}


def test_merging_an_empty_review_log_changes_nothing():
    log = EventLog(np.asarray(["C1"], dtype=object), np.asarray(["P1"], dtype=object),
                   np.asarray([1.0], dtype=np.float32), np.asarray([5.0]),
                   np.asarray(["view"], dtype=object))
    empty = EventLog(*(np.asarray([], dtype=d) for d in (object, object, np.float32,
                                                          np.float64, object)))
    assert with_reviews(log, empty) is log
    untyped = EventLog(log.user_ids, log.item_ids, log.weights, log.timestamps)
    merged = with_reviews(untyped, EventLog(log.user_ids, log.item_ids, log.weights,
                                            log.timestamps + 1, np.asarray(["review"],
                                                                           dtype=object)))
    assert list(merged.types) == ["", "review"]
