"""The global control group: a stable share of customers who never get a campaign or trigger
email, and what the emails earned against them.

Membership is `hmac(salt, customer id) < control_share` (settings), so every campaign and
trigger holds out the same customers and a customer stays in or out across runs. A campaign
run records the control members of its audience in `offer_arms` (arm `control`, propensity
`control_share`): the comparison group of `incremental_revenue`. The audience (consent, not
unsubscribed, under the frequency cap) is chosen first and split second, so the two groups are
alike except for the email.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy import select

from shop.errors import NotFound
from shop.schema import Campaign, CampaignRow, utcnow
from shop.settings import Settings
from shop.store import Store
from shop.support_tables import Order
from shop.upsert import upsert
from shop.value_tables import OfferArm

ARM = "control"
NOT_REVENUE = ("cancelled", "returned")  # orders whose total the shop did not keep
Z95 = 1.959963984540054


def _salt(settings: Settings) -> bytes:
    salt = settings.control_salt
    if salt:
        return salt.encode()
    return hmac.new(settings.signing_key(), b"control-group", hashlib.sha256).digest()


def _position(salt: bytes, customer_id: str) -> float:
    """The customer's place in [0, 1), uniform over customers and fixed by the salt."""
    digest = hmac.new(salt, customer_id.encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") / 2 ** 64


def in_control(customer_id: str, settings: Settings) -> bool:
    return settings.control_share > 0 and \
        _position(_salt(settings), customer_id) < settings.control_share


def control_members(customer_ids: list[str], settings: Settings) -> set[str]:
    """Those of `customer_ids` in the control group (the salt derived once)."""
    if settings.control_share <= 0:
        return set()
    salt = _salt(settings)
    return {c for c in customer_ids if _position(salt, c) < settings.control_share}


def record_control(store: Store, campaign_id: str, customer_ids: list[str]) -> int:
    """An `offer_arms` row (arm control) per held-out customer that has none in the campaign
    yet; returns how many were new. Call after the campaign is saved (the row refers to it)."""
    if not customer_ids:
        return 0
    share = store.settings.control_share
    with store.session() as session:
        known = set(session.scalars(select(OfferArm.customer_id).where(
            OfferArm.campaign_id == campaign_id, OfferArm.customer_id.in_(customer_ids))))
        now = utcnow()
        upsert(session, OfferArm, [
            {"campaign_id": campaign_id, "customer_id": c, "arm": ARM, "propensity": share,
             "assigned_at": now} for c in customer_ids if c not in known],
            ["campaign_id", "customer_id"], update=False)
    return len(set(customer_ids) - known)


def incremental_revenue(store: Store, campaign_id: str, window_days: float = 14) -> dict:
    """Revenue per customer from orders placed in the `window_days` after the campaign
    started (order totals, cancelled and returned orders left out), of the customers it wrote
    an email for against its control members; their difference with a 95% interval (normal
    approximation, unequal variances), and that difference times the emailed customers."""
    with store.session() as session:
        campaign = session.get(Campaign, campaign_id)
        if campaign is None:
            raise NotFound(f"no campaign {campaign_id!r}")
        start = _aware(campaign.starts_at or campaign.created_at)
        emailed = sorted(set(session.scalars(select(CampaignRow.customer_id).where(
            CampaignRow.campaign_id == campaign_id, CampaignRow.state == "generated"))))
        control = sorted(session.scalars(select(OfferArm.customer_id).where(
            OfferArm.campaign_id == campaign_id, OfferArm.arm == ARM)))
        end = start + timedelta(days=window_days)
        spent: dict[str, float] = {}
        people = emailed + control
        for first in range(0, len(people), 500):
            for customer, total in session.execute(
                    select(Order.customer_id, Order.total).where(
                        Order.customer_id.in_(people[first:first + 500]),
                        Order.placed_at >= start, Order.placed_at < end,
                        Order.status.not_in(NOT_REVENUE))):
                spent[customer] = spent.get(customer, 0.0) + float(total)
    groups = {name: np.array([spent.get(c, 0.0) for c in ids])
              for name, ids in (("emailed", emailed), ("control", control))}
    out = {"campaign": campaign_id, "window_days": window_days,
           "from": start.isoformat(), "to": end.isoformat(), "complete": utcnow() >= end}
    for name, values in groups.items():
        out[name] = {"customers": len(values), "revenue": round(float(values.sum()), 2),
                     "per_customer": round(float(values.mean()), 4) if len(values) else None}
    a, b = groups["emailed"], groups["control"]
    difference = interval = None
    if len(a) and len(b):
        difference = float(a.mean() - b.mean())
        if len(a) > 1 and len(b) > 1:
            se = math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
            interval = [round(difference - Z95 * se, 4), round(difference + Z95 * se, 4)]
    out["difference_per_customer"] = None if difference is None else round(difference, 4)
    out["interval_95"] = interval
    out["incremental_revenue"] = None if difference is None else round(difference * len(a), 2)
    return out


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; they were stored in UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
