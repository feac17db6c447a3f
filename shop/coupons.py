"""Coupon redemption: which orders a campaign's codes paid for, and which uses do not count.

Campaigns issue the codes (campaigns/offers.py); this module reads them back when orders come
in. Every order that carries a code, by `ingest orders` or `POST /v1/orders` (both write
through shop/orders.py's `write_orders`, which calls `record_uses` in the same transaction),
becomes one `CouponUse`, in one of COUPON_USE_STATES:

    unknown          no such code
    other_customer   a personal code on another customer's order (a shared code: on the order
                     of a customer the campaign did not offer it to)
    expired          the order was placed after the code's `expires_at`
    reused           a personal code already counted on another order (a shared code: this
                     customer already used it once)
    counted          the redemption: the coupon gets the order, its revenue and its cost

The earliest order wins a code: a batch is judged in order of `placed_at`. A (code, order)
pair is judged once, so sending an order again (a new status, a re-ingest) counts nothing
twice. The flagged states are kept, not counted: the offers report shows them.

Discount cost, from the order total, which is after the discount:
    percent p        total * p / (100 - p)   (what was taken off the price before discount)
    amount a         a
    free_shipping    the coupon's `value`: settings.free_shipping_cost when it was issued
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from shop.records import OrderRecord
from shop.schema import aware
from shop.store import Store
from shop.value_tables import Coupon, CouponUse, OfferArm

# no 0/O, 1/I: a code read off a screen or a printout is typed right (32 symbols: 5 bits each)
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_GROUPS, GROUP_SIZE = 3, 4  # XXXX-XXXX-XXXX: 60 bits
SHARED = "*"  # Coupon.customer_id of a campaign's one shared code (Offer.unique_codes false)
_TYPED = re.compile(r"[\s_-]+")


def normalize_code(typed: str | None) -> str:
    """A code as a customer or a shop's checkout may send it ("abcd efgh jk3m", without the
    dashes) in the stored form ("ABCD-EFGH-JK3M"); "" for none. Other codes are upper-cased."""
    code = (typed or "").strip().upper()
    bare = _TYPED.sub("", code)
    if len(bare) == CODE_GROUPS * GROUP_SIZE and all(c in CODE_ALPHABET for c in bare):
        return "-".join(bare[i:i + GROUP_SIZE] for i in range(0, len(bare), GROUP_SIZE))
    return code


def discount_cost(coupon: Coupon, total: float) -> float:
    """What the code took off an order whose (discounted) total is `total`."""
    if coupon.kind == "percent":
        return round(total * coupon.value / (100.0 - coupon.value), 2)
    return round(float(coupon.value), 2)  # amount, or free shipping's cost


def record_uses(session: Session, orders: list[dict[str, Any]]) -> dict[str, int]:
    """Judge the codes of these order rows (dicts with id, customer_id, placed_at, total and
    coupon_code) in the caller's transaction; returns how many new uses per state."""
    carrying = [(normalize_code(o.get("coupon_code")), o) for o in orders]
    carrying = sorted(((code, o) for code, o in carrying if code),
                      key=lambda pair: (aware(pair[1]["placed_at"]), pair[1]["id"]))
    counts: dict[str, int] = {}
    if not carrying:
        return counts
    pairs = sorted({(code, o["id"]) for code, o in carrying})
    seen: set[tuple[str, str]] = set()
    for start in range(0, len(pairs), 400):
        seen.update(tuple(row) for row in session.execute(
            select(CouponUse.code, CouponUse.order_id).where(
                tuple_(CouponUse.code, CouponUse.order_id).in_(pairs[start:start + 400]))))
    for code, order in carrying:
        if (code, order["id"]) in seen:
            continue  # judged when the order first came
        seen.add((code, order["id"]))
        state = _judge(session, code, order)
        session.add(CouponUse(code=code, order_id=order["id"], customer_id=order["customer_id"],
                              used_at=order["placed_at"], state=state))
        session.flush()  # the next order of this batch sees this one
        counts[state] = counts.get(state, 0) + 1
    return counts


def redeem(store: Store, orders: list[OrderRecord]) -> dict[str, int]:
    """`record_uses` for orders as records, in a transaction of its own."""
    with store.session() as session:
        return record_uses(session, [o.model_dump() for o in orders])


def _judge(session: Session, code: str, order: dict[str, Any]) -> str:
    coupon = session.get(Coupon, code)
    if coupon is None:
        return "unknown"
    customer_id, placed = order["customer_id"], aware(order["placed_at"])
    shared = coupon.customer_id == SHARED
    if shared:
        arm = session.get(OfferArm, (coupon.campaign_id, customer_id))
        if arm is None or arm.arm != "offer":
            return "other_customer"
    elif coupon.customer_id != customer_id:
        return "other_customer"
    if placed > aware(coupon.expires_at):
        return "expired"
    if _used_by(session, code, customer_id) if shared else \
            coupon.order_id not in (None, order["id"]):
        return "reused"
    total = float(order["total"])
    if coupon.redeemed_at is None or aware(coupon.redeemed_at) > placed:
        coupon.redeemed_at, coupon.order_id = placed, order["id"]  # a shared code: its first
    coupon.revenue = round((coupon.revenue or 0.0) + total, 2)
    coupon.discount_cost = round((coupon.discount_cost or 0.0) + discount_cost(coupon, total), 2)
    return "counted"


def _used_by(session: Session, code: str, customer_id: str) -> bool:
    """A counted use of this (shared) code by this customer already."""
    return session.scalar(select(CouponUse.id).where(
        CouponUse.code == code, CouponUse.customer_id == customer_id,
        CouponUse.state == "counted").limit(1)) is not None
