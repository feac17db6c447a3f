"""Per-customer summaries as of a date: the RFM summary the buy-till-you-die models read, the
features the gradient-boosted model reads, and what happened after (the back-test's labels).

Everything is computed from transactions and events strictly before `as_of`, so a snapshot
taken in the past sees only the past. Purchases are counted per calendar day (two orders on
one day are one purchase occasion), the convention of BG/NBD.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recsys.value.activity import BEHAVIOUR, Activity
from recsys.value.btyd import Rfm

# features the plain logistic baseline reads (recency, frequency, monetary, age)
RFM_FEATURES = ("frequency", "days_since_last", "age", "monetary")


@dataclass
class Snapshot:
    """All customers as of one day. Arrays are (n_customers,); `X` is (n_customers, d)."""

    as_of: float
    rfm: Rfm
    bought: np.ndarray  # bool: at least one purchase before as_of
    X: np.ndarray
    names: list[str]

    def column(self, name: str) -> np.ndarray:
        return self.X[:, self.names.index(name)]


def purchase_days(activity: Activity, start: float, end: float) -> tuple[np.ndarray, np.ndarray,
                                                                          np.ndarray]:
    """Distinct (customer, calendar day) purchase occasions in [start, end), with the value
    spent that day: (customer, day, value) arrays sorted by customer then day."""
    keep = (activity.bought_on >= start) & (activity.bought_on < end)
    customer = activity.buyer[keep]
    day = np.floor(activity.bought_on[keep]).astype(np.int64)
    key = customer * 1_000_000 + day  # days since 1970 stay far below a million
    unique, inverse = np.unique(key, return_inverse=True)
    value = np.bincount(inverse, weights=activity.value[keep], minlength=len(unique))
    return unique // 1_000_000, unique % 1_000_000, value


def rfm_as_of(activity: Activity, as_of: float) -> tuple[Rfm, np.ndarray, np.ndarray,
                                                         np.ndarray]:
    """The RFM summary at `as_of`, plus each customer's first purchase value, total spend and
    number of purchase days."""
    n = len(activity.customer_ids)
    customer, day, value = purchase_days(activity, -np.inf, as_of)
    count = np.bincount(customer, minlength=n)
    first = np.full(n, np.nan)
    last = np.full(n, np.nan)
    # sorted by (customer, day): a customer's first row is their first day, the last their last
    starts = np.flatnonzero(np.r_[True, customer[1:] != customer[:-1]]) if len(customer) else []
    ends = np.r_[starts[1:], len(customer)] - 1 if len(customer) else []
    first[customer[starts]] = day[starts]
    last[customer[ends]] = day[ends]
    first_value = np.zeros(n)
    first_value[customer[starts]] = value[starts]
    total = np.bincount(customer, weights=value, minlength=n)
    frequency = np.maximum(count - 1, 0).astype(float)
    repeat_spend = total - first_value
    monetary = np.divide(repeat_spend, frequency, out=np.zeros(n), where=frequency > 0)
    bought = count > 0
    age = np.where(bought, np.floor(as_of) - first, 0.0)
    recency = np.where(bought, last - first, 0.0)
    return Rfm(frequency, recency, age, monetary), first_value, total, count


def snapshot(activity: Activity, as_of: float) -> Snapshot:
    rfm, first_value, total, count = rfm_as_of(activity, as_of)
    bought = count > 0
    nan = np.where(bought, 0.0, np.nan)  # purchase features are unknown for non-buyers
    columns: dict[str, np.ndarray] = {
        "frequency": rfm.frequency + nan,
        "days_since_last": rfm.age - rfm.recency + nan,
        "age": rfm.age + nan,
        "monetary": rfm.monetary + nan,
        "first_value": first_value + nan,
        "total_spend": total,
        "mean_gap": np.divide(rfm.recency, rfm.frequency, out=np.full(len(bought), np.nan),
                              where=rfm.frequency > 0),
    }
    n = len(activity.customer_ids)
    customer, day, _ = purchase_days(activity, -np.inf, as_of)
    for window in (30, 90, 365):
        recent = day >= as_of - window
        columns[f"purchases_{window}d"] = np.bincount(customer[recent], minlength=n)
    columns.update(_behaviour(activity, as_of))
    names = list(columns)
    X = np.column_stack([np.asarray(columns[name], dtype=float) for name in names])
    return Snapshot(as_of, rfm, bought, X, names)


def _behaviour(activity: Activity, as_of: float) -> dict[str, np.ndarray]:
    n = len(activity.customer_ids)
    before = activity.acted_on < as_of
    actor, day, kind = activity.actor[before], activity.acted_on[before], activity.kind[before]
    out: dict[str, np.ndarray] = {}
    for window in (7, 30, 90):
        recent = day >= as_of - window
        out[f"actions_{window}d"] = np.bincount(actor[recent], minlength=n)
    recent = day >= as_of - 30
    for k, name in enumerate(BEHAVIOUR):
        out[f"{name}_30d"] = np.bincount(actor[recent & (kind == k)], minlength=n)
    last = np.full(n, -np.inf)
    np.maximum.at(last, actor, day)
    out["days_since_action"] = np.where(np.isfinite(last), as_of - last, np.nan)
    active = np.unique(actor[recent] * 1_000_000 + np.floor(day[recent]).astype(np.int64))
    out["active_days_30d"] = np.bincount(active // 1_000_000, minlength=n)
    return out


def outcome(activity: Activity, as_of: float, horizon_days: float) -> tuple[np.ndarray,
                                                                            np.ndarray]:
    """What each customer did in [as_of, as_of + horizon): purchase occasions and spend."""
    n = len(activity.customer_ids)
    customer, _, value = purchase_days(activity, as_of, as_of + horizon_days)
    return (np.bincount(customer, minlength=n).astype(float),
            np.bincount(customer, weights=value, minlength=n))
