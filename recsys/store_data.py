"""Read events and the catalog out of the SQL store as an EventLog and an ItemTable."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
from sqlalchemy import select

from recsys.interactions import EventLog, InteractionOptions, ItemTable, product_text
from recsys.review_feedback import review_log, with_reviews
from shop.schema import Customer, Event, Product
from shop.store import Store


def _seconds(moment: datetime) -> float:
    # SQLite hands back naive datetimes; the store writes UTC.
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def log_from_store(store: Store, options: InteractionOptions | None = None) -> EventLog:
    """Every event that names a product (searches carry no item and are skipped), and every
    review as an event of type "review:<rating>" (only good ratings weigh anything)."""
    options = options or InteractionOptions()
    with store.session() as session:
        rows = session.execute(
            select(Event.customer_id, Event.product_id, Event.type, Event.ts)
            .where(Event.product_id.is_not(None)).order_by(Event.ts, Event.id)).all()
    users = np.asarray([row[0] for row in rows], dtype=object)
    items = np.asarray([row[1] for row in rows], dtype=object)
    types = np.asarray([row[2] for row in rows], dtype=object)
    weights = np.asarray([options.event_weights.get(t, 0.0) for t in types], dtype=np.float32)
    times = np.asarray([_seconds(row[3]) for row in rows], dtype=np.float64)
    reviews = review_log(store)
    # One source of weights for the recommender: the options, by type (as tuning re-derives)
    reviews.weights = np.asarray([options.event_weights.get(t, 0.0) for t in reviews.types],
                                 dtype=np.float32)
    return with_reviews(EventLog(users, items, weights, times, types), reviews)


def items_from_store(store: Store) -> ItemTable:
    with store.session() as session:
        products = session.scalars(select(Product).order_by(Product.id)).all()
    return ItemTable(
        ids=np.asarray([p.id for p in products], dtype=object),
        titles=[p.title for p in products],
        texts=[product_text(p.title, p.description, p.category, p.brand, p.attributes)
               for p in products],
        categories=np.asarray([p.category for p in products], dtype=object),
        prices=np.asarray([p.price for p in products], dtype=float),
        # an archived product keeps its history for training but is never served
        in_stock=np.asarray([p.stock > 0 and p.archived_at is None for p in products], dtype=bool),
    )


def customer_ids(store: Store) -> np.ndarray:
    with store.session() as session:
        return np.asarray(session.scalars(select(Customer.id).order_by(Customer.id)).all(),
                          dtype=object)
