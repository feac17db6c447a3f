"""Validated input records: one pydantic model per ingestible kind.

The same models validate CSV/JSONL rows, API bodies and CLI arguments, so a field's rules live
in one place. Empty CSV cells arrive as missing keys and take the defaults.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from shop.schema import EVENT_TYPES, ORDER_STATUSES

Id = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")


class Record(BaseModel):
    """String limits match the columns in shop/schema.py: SQLite would store a longer value,
    PostgreSQL refuses it (and a NUL character) and with it the whole file's transaction."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("contains a NUL character")
        return value


def _as_utc(value: datetime) -> datetime:
    """Naive times are UTC; others are converted (SQLite keeps no offset: "08:00+01:00"
    stored as written would read back as 08:00 UTC)."""
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:  # "0001-01-01T00:00+01:00" has no UTC time
        raise ValueError("the time is out of range") from None


class ProductRecord(Record):
    id: str = Id
    title: str = Field(min_length=1, max_length=300)
    description: str = ""
    category: str = Field(min_length=1, max_length=100)
    price: float = Field(ge=0)
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    stock: int = Field(default=0, ge=0)
    brand: str = Field(default="", max_length=100)
    attributes: dict[str, Any] = Field(default_factory=dict)
    url: str = Field(default="", max_length=500)
    image_url: str = Field(default="", max_length=1000, pattern=r"^$|^https?://\S+$")

    @field_validator("attributes", mode="before")
    @classmethod
    def _parse_attributes(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(f"not a JSON object: {exc.msg}") from None
        return value


class CustomerRecord(Record):
    id: str = Id
    first_name: str = Field(min_length=1, max_length=100)
    email: str = Field(default="", max_length=254, pattern=r"^$|^[^@\s]+@[^@\s]+\.[^@\s]+$")
    locale: str = Field(default="en-GB", pattern=r"^[a-z]{2}(-[A-Z]{2})?$")
    marketing_consent: bool = False
    unsubscribed_at: datetime | None = None
    created_at: datetime | None = None

    @field_validator("unsubscribed_at", "created_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else _as_utc(value)


class EventRecord(Record):
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=128)
    customer_id: str = Id
    type: Literal[EVENT_TYPES]  # type: ignore[valid-type]
    product_id: str | None = Field(default=None, min_length=1, max_length=64)
    query: str | None = Field(default=None, max_length=500)
    session_id: str | None = Field(default=None, max_length=64)
    timestamp: datetime

    @field_validator("timestamp")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return _as_utc(value)

    def key(self) -> str:
        """The idempotency key; derived from the event's content when the source gave none."""
        if self.idempotency_key:
            return self.idempotency_key
        raw = "|".join(
            [self.customer_id, self.type, self.product_id or "", self.query or "",
             self.timestamp.isoformat()]
        )
        return "h:" + hashlib.sha256(raw.encode()).hexdigest()[:32]

    @field_validator("product_id", "query", "session_id", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if value == "" else value

    @model_validator(mode="after")
    def _needs_target(self) -> EventRecord:
        if self.type == "search" and not self.query:
            raise PydanticCustomError("missing_query", "a search event needs a query")
        if self.type != "search" and not self.product_id:
            raise PydanticCustomError("missing_product", f"a {self.type} event needs a product_id")
        return self


class OrderItem(Record):
    product_id: str = Id
    quantity: int = Field(default=1, ge=1, le=100_000)
    price: float = Field(ge=0)  # per unit, in the order's currency


class OrderRecord(Record):
    """An order as the shop's backend knows it; sent again with a new status, it replaces the
    stored one (`ingest orders` and `POST /v1/orders` upsert by id)."""

    id: str = Id
    customer_id: str = Id
    status: Literal[ORDER_STATUSES]  # type: ignore[valid-type]
    placed_at: datetime
    shipped_at: datetime | None = None
    delivered_at: datetime | None = None
    carrier: str = Field(default="", max_length=100)
    tracking_url: str = Field(default="", max_length=1000, pattern=r"^$|^https?://\S+$")
    total: float = Field(ge=0)
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    items: list[OrderItem] = Field(min_length=1, max_length=1000)
    coupon_code: str | None = Field(default=None, max_length=32)  # a campaign's code, if used

    @field_validator("items", mode="before")
    @classmethod
    def _parse_items(cls, value: Any) -> Any:
        if isinstance(value, str):  # a CSV cell holds the JSON list
            try:
                return json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(f"not a JSON list: {exc.msg}") from None
        return value

    @field_validator("placed_at", "shipped_at", "delivered_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else _as_utc(value)

    @field_validator("shipped_at", "delivered_at", "coupon_code", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if value == "" else value

    @model_validator(mode="after")
    def _consistent(self) -> OrderRecord:
        if self.status == "shipped" and self.shipped_at is None:
            raise PydanticCustomError("missing_shipped_at", "a shipped order needs shipped_at")
        if self.status == "delivered" and self.delivered_at is None:
            raise PydanticCustomError("missing_delivered_at",
                                      "a delivered order needs delivered_at")
        for name in ("shipped_at", "delivered_at"):
            moment = getattr(self, name)
            if moment is not None and moment < self.placed_at:
                raise PydanticCustomError("before_placed", f"{name} is before placed_at")
        if self.shipped_at and self.delivered_at and self.delivered_at < self.shipped_at:
            raise PydanticCustomError("before_shipped", "delivered_at is before shipped_at")
        return self


class SupportRecord(Record):
    """A past support ticket: the shopper's question and the reply that settled it. Resolved
    tickets become vetted answers the chat may reuse; unresolved ones are kept, never used."""

    id: str = Id
    question: str = Field(min_length=3, max_length=4000)
    answer: str = Field(min_length=1, max_length=8000)
    resolved: bool
    created_at: datetime | None = None
    tags: list[str] = Field(default_factory=list, max_length=20)

    @field_validator("tags", mode="before")
    @classmethod
    def _split_tags(cls, value: Any) -> Any:
        if isinstance(value, str):  # a CSV cell: "returns, refund"
            return [tag.strip() for tag in value.split(",") if tag.strip()]
        return value

    @field_validator("created_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else _as_utc(value)


class ReviewRecord(Record):
    """A customer's review of a product. Sent again with the same `id` (or, without one, the
    same customer, product and created_at) it replaces the stored one."""

    id: str | None = Field(default=None, min_length=1, max_length=64,
                           pattern=r"^[A-Za-z0-9_.:\-]+$")
    customer_id: str = Id
    product_id: str = Id
    rating: int = Field(ge=1, le=5)
    text: str = Field(default="", max_length=8000)
    created_at: datetime
    language: str | None = Field(default=None, pattern=r"^[a-z]{2}(-[A-Z]{2})?$")

    @field_validator("created_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return _as_utc(value)

    @field_validator("id", "language", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if value == "" else value

    def key(self) -> str:
        """The review's id; derived from (customer, product, created_at) when none was sent."""
        if self.id:
            return self.id
        raw = f"{self.customer_id}|{self.product_id}|{self.created_at.isoformat()}"
        return "r:" + hashlib.sha256(raw.encode()).hexdigest()[:32]


RECORDS: dict[str, type[Record]] = {
    "catalog": ProductRecord,
    "customers": CustomerRecord,
    "events": EventRecord,
    "orders": OrderRecord,
    "support-history": SupportRecord,
    "reviews": ReviewRecord,
}
