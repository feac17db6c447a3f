"""The `reviews` table: what customers wrote and rated about products. On the same `Base` as
shop/schema.py (which imports this module, so one metadata holds every table)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shop.schema import Base


class Review(Base):
    """One customer's review of one product (`ingest reviews`, `POST /v1/reviews`): a rating
    of 1 to 5 and their words. `id` is the shop's review id, or, when the shop sends none, a
    hash of (customer, product, created_at), so sending a review again replaces it.
    `language` is the text's language: as sent, else the customer's locale's."""

    __tablename__ = "reviews"
    __table_args__ = (Index("ix_reviews_product_created", "product_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"))
    rating: Mapped[int] = mapped_column(Integer)  # 1..5
    text: Mapped[str] = mapped_column(Text, default="")
    language: Mapped[str] = mapped_column(String(8), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
