"""Each customer's predicted value as of a date, and the `customer_scores` table that holds it.

    p_purchase       P(at least one order in the next `horizon_days`)
    expected_orders  expected purchase occasions (order days) in the horizon
    expected_spend   expected_orders x the customer's expected order value (Gamma-Gamma: their
                     own mean, shrunk toward the shop's by how many orders it rests on)
    churn_risk       1 - p_purchase for a customer who has bought before: the chance they do
                     not come back within the horizon; None for one who never bought
    next_order_date  the day by which BG/NBD gives even odds of the next order; None when that
                     is more than two horizons away

The probability and the count come from the models `backtest.choose` picked for this horizon
(the winners one horizon back); spend and the date always from the BG/NBD family. A customer
who never bought gets the shop's observed first-purchase rate of the latest horizon.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import delete, select

from recsys.value.activity import Activity, activity_from_store, day_of, moment_of
from recsys.value.backtest import choose
from recsys.value.btyd import BetaGeo, GammaGamma
from recsys.value.features import Snapshot, outcome, snapshot
from recsys.value.models import MODELS, BgNbdModel, ValueModel, take
from shop.errors import InvalidInput
from shop.schema import utcnow
from shop.store import Store
from shop.value_tables import CustomerScore

FIELDS = ("customer_id", "p_purchase", "expected_orders", "expected_spend", "churn_risk",
          "next_order_date")


@dataclass
class Scores:
    as_of: float
    horizon: int
    models: dict[str, str]  # {"p_purchase": name, "orders": name}
    customer_ids: np.ndarray
    p_purchase: np.ndarray
    expected_orders: np.ndarray
    expected_spend: np.ndarray
    churn_risk: np.ndarray  # NaN: never bought
    next_order_day: np.ndarray  # NaN: not within two horizons

    @property
    def model(self) -> str:
        p, orders = self.models["p_purchase"], self.models["orders"]
        return p if p == orders else f"{p}+{orders}"

    def row(self, i: int) -> dict:
        next_day = self.next_order_day[i]
        return {"customer_id": str(self.customer_ids[i]),
                "p_purchase": round(float(self.p_purchase[i]), 4),
                "expected_orders": round(float(self.expected_orders[i]), 4),
                "expected_spend": round(float(self.expected_spend[i]), 2),
                "churn_risk": None if np.isnan(self.churn_risk[i])
                else round(float(self.churn_risk[i]), 4),
                "next_order_date": None if np.isnan(next_day)
                else moment_of(next_day).date().isoformat()}


def score(activity: Activity, as_of: float, horizon: int = 90) -> Scores:
    if not len(activity.buyer) or activity.bought_on.min() >= as_of:
        raise InvalidInput("no purchases before the cut-off: scores need orders or purchase "
                           "events (`shopwright ingest orders FILE`)")
    snap = snapshot(activity, as_of)
    models = choose(activity, as_of, horizon)
    fitted: dict[str, ValueModel] = {}
    for name in set(models.values()):
        fitted[name] = MODELS[name]().fit(activity, as_of, horizon)
    buyers = snap.bought
    n = len(buyers)
    p = np.full(n, _first_purchase_rate(activity, as_of, horizon))
    orders = p.copy()  # a non-buyer's expected count: about their chance of a first order
    p[buyers] = fitted[models["p_purchase"]].predict(snap, horizon).p_purchase
    orders[buyers] = fitted[models["orders"]].predict(snap, horizon).expected_orders
    bgnbd = fitted.get("bgnbd") or BgNbdModel().fit(activity, as_of, horizon)
    p, orders = np.clip(p, 0.0, 1.0), np.maximum(orders, 0.0)
    spend = orders * _order_value(activity, snap)
    churn = np.where(buyers, 1.0 - p, np.nan)
    next_day = np.full(n, np.nan)
    wait = _days_to_next(bgnbd.model, snap, 2 * horizon)
    next_day[buyers] = np.floor(as_of) + wait
    return Scores(as_of, horizon, models, activity.customer_ids, p, orders, spend, churn,
                  next_day)


def _days_to_next(model: BetaGeo, snap: Snapshot, max_days: float) -> np.ndarray:
    return model.days_to_next(take(snap.rfm, snap.bought), quantile=0.5, max_days=max_days)


def _order_value(activity: Activity, snap: Snapshot) -> np.ndarray:
    """Each customer's expected order value: Gamma-Gamma where enough customers ordered
    twice, else the shop's mean order value for everyone."""
    before = activity.bought_on < snap.as_of
    shop_mean = float(activity.value[before].mean()) if before.any() else 0.0
    value = np.full(len(snap.bought), shop_mean)
    try:
        spend = GammaGamma().fit(take(snap.rfm, snap.bought))
    except InvalidInput:
        return value
    value[snap.bought] = spend.expected_value(take(snap.rfm, snap.bought))
    return value


def _first_purchase_rate(activity: Activity, as_of: float, horizon: float) -> float:
    """Of the customers with no purchase one horizon back, the share who then made one."""
    past = snapshot(activity, as_of - horizon)
    orders, _ = outcome(activity, as_of - horizon, horizon)
    never = ~past.bought
    return float((orders[never] > 0).mean()) if never.any() else 0.0


# ---- the table --------------------------------------------------------------------------------


def refresh_scores(store: Store, as_of: datetime | None = None, horizon: int = 90) -> Scores:
    """Score every customer as of `as_of` (default: now) and replace the stored scores."""
    as_of_day = day_of(as_of or utcnow())
    scores = score(activity_from_store(store), as_of_day, horizon)
    now, moment = utcnow(), moment_of(as_of_day)
    rows = []
    for i in range(len(scores.customer_ids)):
        row = scores.row(i)
        rows.append(CustomerScore(
            customer_id=row["customer_id"], as_of=moment, horizon_days=horizon,
            model=scores.model, p_purchase=row["p_purchase"],
            expected_orders=row["expected_orders"], expected_spend=row["expected_spend"],
            churn_risk=row["churn_risk"], updated_at=now,
            next_order_date=None if np.isnan(scores.next_order_day[i])
            else moment_of(scores.next_order_day[i])))
    with store.session() as session:
        session.execute(delete(CustomerScore))
        session.add_all(rows)
    return scores


def stored_score(store: Store, customer_id: str) -> dict | None:
    """The customer's stored scores (the fields of `FIELDS` plus as_of, horizon and model)."""
    with store.session() as session:
        row = session.get(CustomerScore, customer_id)
        if row is None:
            return None
        return {"p_purchase": row.p_purchase, "expected_orders": row.expected_orders,
                "expected_spend": row.expected_spend, "churn_risk": row.churn_risk,
                "next_order_date": row.next_order_date.date().isoformat()
                if row.next_order_date else None,
                "as_of": row.as_of.date().isoformat(), "horizon_days": row.horizon_days,
                "model": row.model}


def has_scores(store: Store) -> bool:
    with store.session() as session:
        return session.scalar(select(CustomerScore.customer_id).limit(1)) is not None
