"""The tables of support: the shop's orders and what shoppers asked to change about them,
the shop's vetted answers, and how each chat answer ended. On the same `Base` as
shop/schema.py (which imports this module, so one metadata holds every table)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shop.schema import Base, utcnow


class Order(Base):
    """An order as the shop's backend last sent it (`ingest orders`, `POST /v1/orders`). What
    the chat says about an order is read from this row, never written by the model. Its items
    also count as purchases for the recommender (shop/orders.py keeps those events in step)."""

    __tablename__ = "orders"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))  # ORDER_STATUSES
    placed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    shipped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    carrier: Mapped[str] = mapped_column(String(100), default="")
    tracking_url: Mapped[str] = mapped_column(String(1000), default="")
    total: Mapped[float] = mapped_column(Float)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    items: Mapped[list] = mapped_column(JSON, default=list)  # [{product_id, quantity, price}]
    coupon_code: Mapped[str | None] = mapped_column(String(32), default=None)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


ORDER_REQUEST_KINDS = ("cancel", "return")
ORDER_REQUEST_STATES = ("open", "done", "declined")


class OrderRequest(Base):
    """Something a shopper asked the chat to change about an order (cancel it, start a
    return): recorded for the shop's team, never done silently. One open request per order and
    kind, so asking twice does not queue it twice."""

    __tablename__ = "order_requests"
    __table_args__ = (Index("ix_order_requests_state", "state", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), index=True)
    customer_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # ORDER_REQUEST_KINDS
    state: Mapped[str] = mapped_column(String(16), default="open")  # ORDER_REQUEST_STATES
    message: Mapped[str] = mapped_column(Text, default="")  # the shopper's words, redacted
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


VETTED_ORIGINS = ("history", "studio", "gap")  # a past ticket, written by a person, from a gap


class VettedAnswer(Base):
    """An answer a person stands behind: a resolved ticket of the shop's support history
    (`ingest support-history`), or one written in the studio (also from a knowledge gap). A
    new question close enough to `question` is answered with `answer` as it is, cited as the
    shop's own answer (gen/tasks/vetted.py). Retired answers (`active` false) are never used."""

    __tablename__ = "vetted_answers"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    tags: Mapped[list] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    origin: Mapped[str] = mapped_column(String(16), default="history")  # VETTED_ORIGINS
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # set when a person edits or retires it: ingesting the history again keeps their change
    edited_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


OUTCOMES = ("pages", "vetted", "orders", "products", "handoff", "no_answer")


class ChatOutcome(Base):
    """How one chat answer ended, and what the shopper said of it ("Did this answer your
    question?"): the support report and its knowledge gaps are read from these rows."""

    __tablename__ = "chat_outcomes"
    __table_args__ = (Index("ix_chat_outcomes_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_hash: Mapped[str] = mapped_column(String(64), index=True)
    turn_id: Mapped[int | None] = mapped_column(Integer, index=True)  # the answer's chat_turns id
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    question: Mapped[str] = mapped_column(Text, default="")  # redacted
    outcome: Mapped[str] = mapped_column(String(16))  # OUTCOMES
    handoff_reason: Mapped[str] = mapped_column(String(40), default="")
    vetted_id: Mapped[str | None] = mapped_column(String(80))
    helpful: Mapped[bool | None] = mapped_column(Boolean)
    comment: Mapped[str] = mapped_column(Text, default="")
    feedback_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
