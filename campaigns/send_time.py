"""When to send each customer's email: the hour of the week they act most.

A customer's clicks, add-to-carts and purchases (UTC) are counted in 7 x 24 hour-of-week
bins. Thin histories lean on the whole shop's pattern, a Dirichlet prior: the posterior
weight of a bin is `count + PRIOR_WEIGHT * shop_share`, the prior worth 50 events. Where the
shop's busiest hour holds 5% of its events the prior adds 2.5 events to it, so one event of
the customer's elsewhere does not pull them off it and three in one hour do; in a shop with
flatter hours (2% at most: 1 event) one of their own already does, and the shop's pattern
breaks their ties. A customer with no events gets the shop's best hour; a shop with no events
at all, DEFAULT (Tuesday 10:00 UTC).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import NamedTuple

import numpy as np
from sqlalchemy import select

from shop.schema import Event
from shop.store import Store

EVENT_TYPES = ("click", "add_to_cart", "purchase")
PRIOR_WEIGHT = 50.0  # pseudo-events of the shop's pattern added to every customer's own
DEFAULT = (1, 10)  # (weekday, hour) when the shop has no events: Tuesday 10:00 UTC
WEEK = timedelta(days=7)
CHUNK = 500


class SendTime(NamedTuple):
    weekday: int  # 0 = Monday, as datetime.weekday()
    hour: int  # 0..23, UTC
    n_events: int  # the customer's own events behind it (0: the shop's pattern)
    weights: tuple[float, ...] = ()  # posterior weight of each of the 168 hours of the week


def _bin(moment: datetime) -> int:
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.weekday() * 24 + moment.hour


class SendTimes:
    """Best hours of the week from the store's events; the shop's pattern is read once."""

    def __init__(self, store: Store, prior_weight: float = PRIOR_WEIGHT):
        self.store = store
        self.prior_weight = prior_weight

    @cached_property
    def shop_counts(self) -> np.ndarray:
        """(168,) the shop's events per hour of the week."""
        counts = np.zeros(168)
        with self.store.session() as session:
            for ts in session.scalars(select(Event.ts).where(Event.type.in_(EVENT_TYPES))):
                counts[_bin(ts)] += 1
        return counts

    @cached_property
    def shop_best(self) -> SendTime:
        total = self.shop_counts.sum()
        if not total:
            weights = np.zeros(168)
            weights[DEFAULT[0] * 24 + DEFAULT[1]] = 1.0
        else:
            weights = self.shop_counts / total
        return self._time(weights, 0)

    def best(self, customer_ids: list[str]) -> dict[str, SendTime]:
        """Each customer's best weekday and hour (a customer without events: the shop's)."""
        counts: dict[str, np.ndarray] = {}
        ids = sorted(set(customer_ids))
        with self.store.session() as session:
            for start in range(0, len(ids), CHUNK):
                for customer, ts in session.execute(
                        select(Event.customer_id, Event.ts).where(
                            Event.customer_id.in_(ids[start:start + CHUNK]),
                            Event.type.in_(EVENT_TYPES))):
                    counts.setdefault(customer, np.zeros(168))[_bin(ts)] += 1
        prior = self.prior_weight * np.asarray(self.shop_best.weights)
        return {c: self._time(counts[c] + prior, int(counts[c].sum())) if c in counts
                else self.shop_best for c in customer_ids}

    @staticmethod
    def _time(weights: np.ndarray, n_events: int) -> SendTime:
        slot = int(np.argmax(weights))  # ties: the earliest in the week
        return SendTime(slot // 24, slot % 24, n_events, tuple(float(w) for w in weights))


def send_at(time: SendTime, start: datetime, within: timedelta = WEEK) -> datetime:
    """The first UTC moment at or after `start` in the customer's best hour of the week.
    With `within` shorter than a week, the best hour that comes before `start + within`
    (ties: the soonest); `start` itself when it is already in that hour."""
    start = start.replace(tzinfo=UTC) if start.tzinfo is None else start.astimezone(UTC)
    hour = start.replace(minute=0, second=0, microsecond=0)
    slots = [start] + [hour + timedelta(hours=n) for n in range(1, 169)
                       if hour + timedelta(hours=n) < start + within]
    if within >= WEEK or not time.weights:
        wanted = time.weekday * 24 + time.hour
        return next(s for s in slots if _bin(s) == wanted)
    return max(slots, key=lambda s: (time.weights[_bin(s)], -s.timestamp()))
