"""Tables for who to reach and with what (issue: customer value, coupons, control group).

- `customer_scores`: each customer's predicted value as of a date (recsys/value/), refreshed by
  `recsys retrain` and after ingestion; one row per customer, replaced on every refresh.
- `coupons`: one unique code per recipient of a campaign that carries an offer.
- `coupon_uses`: every time an order (or a purchase) carried a code, with whether it counted;
  a reused code, another customer's code or an expired one is recorded and flagged, not
  counted.
- `offer_arms`: who in a campaign's audience got the offer, who got the email without it, and
  who was held out as the control group, with the probability of that arm: the logged data
  the uplift model and the off-policy estimate of an offer plan learn from.

On the same `Base` as shop/schema.py (which imports this module, so one metadata holds every
table)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from shop.schema import Base, utcnow

OFFER_KINDS = ("percent", "amount", "free_shipping")
OFFER_ARMS = ("offer", "no_offer", "control")  # control: the global holdout, no email at all
COUPON_USE_STATES = ("counted", "reused", "other_customer", "expired", "unknown")


class CustomerScore(Base):
    """A customer's scores as of `as_of` over `horizon_days`, from `model` (the one the
    back-test chose for that horizon)."""

    __tablename__ = "customer_scores"

    customer_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    as_of: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    horizon_days: Mapped[int] = mapped_column(Integer)
    model: Mapped[str] = mapped_column(String(32))
    p_purchase: Mapped[float] = mapped_column(Float)  # P(at least one order in the horizon)
    expected_orders: Mapped[float] = mapped_column(Float)
    expected_spend: Mapped[float] = mapped_column(Float)  # CLV over the horizon, shop currency
    churn_risk: Mapped[float | None] = mapped_column(Float)  # None: never bought, cannot churn
    next_order_date: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Coupon(Base):
    """One recipient's code. `code` is unguessable (from `secrets`), unique across the shop."""

    __tablename__ = "coupons"
    __table_args__ = (Index("ix_coupons_campaign_customer", "campaign_id", "customer_id",
                            unique=True),)

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"))
    customer_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # OFFER_KINDS
    value: Mapped[float] = mapped_column(Float)  # percent, or an amount in `currency`
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    redeemed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    order_id: Mapped[str | None] = mapped_column(String(64))  # the counted use's order
    revenue: Mapped[float] = mapped_column(Float, default=0.0)  # that order's total
    discount_cost: Mapped[float] = mapped_column(Float, default=0.0)  # what the code took off


class CouponUse(Base):
    """One order (or purchase) that carried a code, counted or flagged (COUPON_USE_STATES).
    Unique per (code, order), so ingesting the same order again records nothing new."""

    __tablename__ = "coupon_uses"
    __table_args__ = (Index("ix_coupon_uses_code_order", "code", "order_id", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(32), index=True)
    order_id: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    state: Mapped[str] = mapped_column(String(16))  # COUPON_USE_STATES


class OfferArm(Base):
    """Which arm a customer of a campaign's audience was in, and its probability (the
    propensity an off-policy estimate divides by). One row per (campaign, customer)."""

    __tablename__ = "offer_arms"

    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    arm: Mapped[str] = mapped_column(String(16))  # OFFER_ARMS
    propensity: Mapped[float] = mapped_column(Float)
    assigned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
