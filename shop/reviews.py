"""Customers' reviews of products: written by `ingest reviews` and `POST /v1/reviews`, read by
the recommender (ratings as feedback, recsys/review_feedback.py), the per-product aspect
sentiment (retrieval/review_aspects.py) and the copy checks that keep ad copy from praising
what reviews call poor.

A review is upserted by its id: the shop's own, or, without one, a hash of (customer,
product, created_at), so re-sending a file changes nothing and an edited review replaces the
stored one. Its `language` is the one sent, else the language of the customer's locale.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shop.errors import NotFound
from shop.records import ReviewRecord
from shop.review_tables import Review
from shop.rows import RowError
from shop.schema import Customer, Product, aware
from shop.store import Store
from shop.upsert import existing_ids, upsert


@dataclass(frozen=True)
class ReviewView:
    id: str
    customer_id: str
    product_id: str
    rating: int
    text: str
    language: str
    created_at: datetime

    def as_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["created_at"] = self.created_at.isoformat() if self.created_at else None
        return out


# ---- writing -------------------------------------------------------------------------------


def review_row(record: ReviewRecord) -> dict[str, Any]:
    return {"id": record.key(), "customer_id": record.customer_id,
            "product_id": record.product_id, "rating": record.rating,
            "text": record.text.strip(), "language": (record.language or "")[:2],
            "created_at": record.created_at}


def missing_references(store: Store, records: list[tuple[int, ReviewRecord]],
                       path: Path) -> list[RowError]:
    """Reviews must name known customers and products (any product the catalog ever held)."""
    with store.session() as session:
        customers = existing_ids(session, Customer, {r.customer_id for _, r in records})
        products = existing_ids(session, Product, {r.product_id for _, r in records})
    errors = []
    for line, record in records:
        if record.customer_id not in customers:
            errors.append(RowError(path, line, "customer_id", f"unknown customer "
                                   f"{record.customer_id!r}; ingest customers first"))
        if record.product_id not in products:
            errors.append(RowError(path, line, "product_id", f"unknown product "
                                   f"{record.product_id!r}; ingest the catalog first"))
    return errors


def write_reviews(session: Session, rows: list[dict[str, Any]]) -> None:
    """Upsert review rows (in the caller's transaction); a row without a language takes its
    customer's."""
    unknown = sorted({row["customer_id"] for row in rows if not row["language"]})
    locales: dict[str, str] = {}
    for start in range(0, len(unknown), 900):
        locales.update((cid, locale) for cid, locale in session.execute(
            select(Customer.id, Customer.locale).where(
                Customer.id.in_(unknown[start:start + 900]))))
    for row in rows:
        if not row["language"]:
            row["language"] = (locales.get(row["customer_id"]) or "")[:2].lower()
    upsert(session, Review, rows, ["id"], update=True)


def upsert_reviews(store: Store, records: list[ReviewRecord]) -> list[str]:
    """`POST /v1/reviews`: check the references of every review, then write all or none."""
    errors = missing_references(store, list(enumerate(records)), Path("body"))
    if errors:
        raise NotFound("; ".join(f"review {e.line}: {e.column}: {e.reason}" for e in errors[:20]))
    rows = list({row["id"]: row for row in map(review_row, records)}.values())
    with store.session() as session:
        write_reviews(session, rows)
    return [row["id"] for row in rows]


# ---- reading -------------------------------------------------------------------------------


def reviews_of_products(store: Store, product_ids: list[str] | None = None
                        ) -> dict[str, list[ReviewView]]:
    """product id -> its reviews, oldest first (every reviewed product when `product_ids` is
    None)."""
    query = select(Review).order_by(Review.product_id, Review.created_at, Review.id)
    found: dict[str, list[ReviewView]] = {}
    with store.session() as session:
        if product_ids is None:
            chunks = [session.scalars(query).all()]
        else:
            ids = sorted(set(product_ids))
            chunks = [session.scalars(query.where(Review.product_id.in_(ids[s:s + 900]))).all()
                      for s in range(0, len(ids), 900)]
        for rows in chunks:
            for row in rows:
                found.setdefault(row.product_id, []).append(_view(row))
    return found


def reviews_of_customer(store: Store, customer_id: str) -> list[ReviewView]:
    with store.session() as session:
        return [_view(row) for row in session.scalars(
            select(Review).where(Review.customer_id == customer_id)
            .order_by(Review.created_at, Review.id))]


def review_counts(store: Store, limit: int = 500) -> list[tuple[str, str, int, float]]:
    """(product id, title, reviews, mean rating) of the most reviewed products."""
    with store.session() as session:
        rows = session.execute(
            select(Review.product_id, Product.title, func.count(), func.avg(Review.rating))
            .join(Product, Product.id == Review.product_id)
            .group_by(Review.product_id, Product.title)
            .order_by(func.count().desc(), Review.product_id).limit(limit)).all()
    return [(pid, title, int(count), round(float(mean), 2)) for pid, title, count, mean in rows]


def count_reviews(store: Store) -> int:
    with store.session() as session:
        return session.scalar(select(func.count()).select_from(Review)) or 0


def _view(row: Review) -> ReviewView:
    return ReviewView(row.id, row.customer_id, row.product_id, int(row.rating), row.text or "",
                      row.language or "", aware(row.created_at))
