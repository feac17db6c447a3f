"""Reviews as feedback for the recommender: each review is one interaction of type
"review:<rating>" ("review:5"), weighted by its rating.

    rating 5, 4  a positive signal on top of what the customer did with the product (usually
                 a purchase): `rating_weights`, 3.0 and 1.5 by default (a purchase is 6.0)
    rating 3..1  zero weight: build_interactions drops it, so a review never makes a product
                 the customer rated poorly count as something they liked

A low rating says more than "no signal": the customer should not be offered that product
again. `low_rated` lists those (customer -> products) for the serving side to exclude, the way
purchases are (a product can be rated without being bought, or bought again in an order the
shop cancelled). Its other events are left as they are: zeroing them would take the product
out of what the customer has "seen" and let it be recommended back to them.

Wiring (log_from_store): `with_reviews(log, review_log(store))` appends the review rows to
the event log, in time order. The rating is in the type so that code re-deriving weights from
types (recsys/tuning.py's reweight, a live fold-in) finds them in `event_weights` once
REVIEW_EVENT_WEIGHTS is merged into InteractionOptions' defaults.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from recsys.interactions import EventLog
from shop.review_tables import Review
from shop.store import Store

REVIEW_TYPE = "review"  # the types are "review:1" .. "review:5"


class ReviewFeedbackOptions(BaseModel):
    """How a rating becomes an interaction strength; ratings not listed weigh nothing."""

    model_config = ConfigDict(extra="forbid")

    rating_weights: dict[int, float] = Field(default_factory=lambda: {5: 3.0, 4: 1.5})
    low_rating: int = Field(default=2, ge=1, le=5)  # this or below: never offered again


# event_weights entries with the default ReviewFeedbackOptions (the ratings that weigh)
REVIEW_EVENT_WEIGHTS = {"review:5": 3.0, "review:4": 1.5}


def review_type(rating: int) -> str:
    return f"{REVIEW_TYPE}:{int(rating)}"


def review_weight(rating: int, options: ReviewFeedbackOptions | None = None) -> float:
    """The interaction strength of one review; 0.0 for anything but a good rating."""
    options = options or ReviewFeedbackOptions()
    return max(float(options.rating_weights.get(int(rating), 0.0)), 0.0)


def _seconds(moment: datetime) -> float:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def review_log(store: Store, options: ReviewFeedbackOptions | None = None) -> EventLog:
    """Every review as an EventLog row of type "review:<rating>" (weight from its rating),
    oldest first."""
    options = options or ReviewFeedbackOptions()
    with store.session() as session:
        rows = session.execute(select(Review.customer_id, Review.product_id, Review.rating,
                                      Review.created_at)
                               .order_by(Review.created_at, Review.id)).all()
    return EventLog(
        np.asarray([row[0] for row in rows], dtype=object),
        np.asarray([row[1] for row in rows], dtype=object),
        np.asarray([review_weight(row[2], options) for row in rows], dtype=np.float32),
        np.asarray([_seconds(row[3]) for row in rows], dtype=np.float64),
        np.asarray([review_type(row[2]) for row in rows], dtype=object))


def with_reviews(log: EventLog, reviews: EventLog) -> EventLog:
    """The two logs as one, in time order (a stable sort: events of the same moment keep
    their order, the log's before the reviews')."""
    if not len(reviews):
        return log

    def types(part: EventLog) -> np.ndarray:
        return part.types if part.types is not None else np.full(len(part), "", dtype=object)

    timestamps = np.concatenate([log.timestamps, reviews.timestamps])
    order = np.argsort(timestamps, kind="stable")
    return EventLog(np.concatenate([log.user_ids, reviews.user_ids])[order],
                    np.concatenate([log.item_ids, reviews.item_ids])[order],
                    np.concatenate([log.weights, reviews.weights]).astype(np.float32)[order],
                    timestamps[order],
                    np.concatenate([types(log), types(reviews)])[order])


def low_rated(store: Store, options: ReviewFeedbackOptions | None = None
              ) -> dict[str, set[str]]:
    """customer -> the products whose latest review by them is `low_rating` or worse."""
    options = options or ReviewFeedbackOptions()
    latest: dict[tuple[str, str], int] = {}
    with store.session() as session:
        for customer, product, rating in session.execute(
                select(Review.customer_id, Review.product_id, Review.rating)
                .order_by(Review.created_at, Review.id)):
            latest[(customer, product)] = int(rating)
    out: dict[str, set[str]] = {}
    for (customer, product), rating in latest.items():
        if rating <= options.low_rating:
            out.setdefault(customer, set()).add(product)
    return out
