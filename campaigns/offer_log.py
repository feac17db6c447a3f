"""Past offer campaigns as the log the uplift models learn from, and the plan for the next one.

A campaign with `offer:` logs each audience member's arm (offer, no_offer, or control for the
global holdout) with its propensity (campaigns/offers.py, campaigns/control.py). Once its
offer window has closed (the codes' `expires_days` after the arms were drawn), each row gets:

    features     the customer-value snapshot (recency, frequency, spend, behaviour) as of the
                 day the arm was drawn: nothing after it (recsys/value/features.py)
    purchased    any purchase in the window
    revenue      the window's purchases before any discount (what a redeemed code took off
                 is added back), so margin = margin_rate * revenue - discount_cost
    discount     what this campaign's codes took off the customer's counted orders

`plan_campaign` fits the uplift recipe (experiments/offer_plan.py) on that log, plans offers
for a new audience from its features today, and estimates off-policy, cross-fitted on the log,
what the plan and the alternatives (everyone, nobody, a random allocation of the same cost)
would earn per customer, scaled to the new audience.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy import select

from experiments.offer_plan import ARMS, CampaignLog, Planner, compare_policies
from recsys.value.activity import Activity, activity_from_store, day_of
from recsys.value.features import snapshot
from shop.coupons import discount_cost
from shop.errors import InvalidInput
from shop.schema import Campaign, aware
from shop.store import Store
from shop.support_tables import Order
from shop.value_tables import Coupon, CouponUse, OfferArm

DEFAULT_WINDOW = 14  # days, for a campaign whose spec names no expires_days
MIN_ROWS_PER_ARM = 50  # fewer offer or no-offer rows: nothing to learn an effect from


def offer_campaigns(store: Store, now: datetime | None = None) -> list[str]:
    """Campaigns with logged arms whose offer window has closed, oldest first."""
    now = now or datetime.now(UTC)
    with store.session() as session:
        rows = session.execute(select(Campaign.id, Campaign.spec, Campaign.created_at)
                               .order_by(Campaign.created_at, Campaign.id)).all()
        with_arms = set(session.scalars(select(OfferArm.campaign_id).distinct()))
    return [cid for cid, spec, _ in rows if cid in with_arms
            and _closed(store, cid, _window(spec), now)]


def _window(spec: dict | None) -> int:
    return int(((spec or {}).get("offer") or {}).get("expires_days") or DEFAULT_WINDOW)


def _closed(store: Store, campaign_id: str, window: int, now: datetime) -> bool:
    with store.session() as session:
        last = session.scalar(select(OfferArm.assigned_at)
                              .where(OfferArm.campaign_id == campaign_id)
                              .order_by(OfferArm.assigned_at.desc()).limit(1))
    return last is not None and aware(last) + timedelta(days=window) <= now


def campaign_log(store: Store, campaign_ids: list[str], activity: Activity | None = None
                 ) -> CampaignLog:
    """One row per (campaign, customer) arm of these campaigns, as described above."""
    activity = activity or activity_from_store(store)
    index = activity.index()
    ids, arms, propensities, days, windows = [], [], [], [], []
    with store.session() as session:
        for campaign_id in campaign_ids:
            campaign = session.get(Campaign, campaign_id)
            if campaign is None:
                raise InvalidInput(f"offers: no campaign {campaign_id!r}")
            window = _window(campaign.spec)
            for customer_id, arm, propensity, assigned in session.execute(
                    select(OfferArm.customer_id, OfferArm.arm, OfferArm.propensity,
                           OfferArm.assigned_at)
                    .where(OfferArm.campaign_id == campaign_id)
                    .order_by(OfferArm.customer_id)):
                if customer_id in index:  # an erased customer is gone from the log too
                    ids.append((campaign_id, customer_id))
                    arms.append(ARMS.index(arm))
                    propensities.append(propensity)
                    days.append(day_of(aware(assigned)))
                    windows.append(window)
        costs = _discounts(session, campaign_ids)
    X, names = _features(activity, [index[c] for _, c in ids], np.asarray(days))
    purchased, revenue, cost = _outcomes(activity, index, ids, days, windows, costs)
    return CampaignLog(np.array([f"{k}/{c}" for k, c in ids], dtype=object), X,
                       np.asarray(arms, dtype=int), np.asarray(propensities, dtype=float),
                       purchased, revenue, cost, names)


def _features(activity: Activity, rows: list[int], days: np.ndarray
              ) -> tuple[np.ndarray, list[str]]:
    """Each row's snapshot features as of its own day (one snapshot per distinct day)."""
    names: list[str] = []
    X = None
    for day in np.unique(days):
        shot = snapshot(activity, float(day))
        names = shot.names
        if X is None:
            X = np.zeros((len(rows), len(names)))
        at = np.flatnonzero(days == day)
        X[at] = shot.X[np.asarray(rows, dtype=int)[at]]
    return (_known(X) if X is not None else np.zeros((0, 0))), names


def _known(X: np.ndarray) -> np.ndarray:
    """Features the reward and uplift models can all read: a value unknown for a customer
    (no purchase yet: no frequency, no gap between orders) as 0."""
    return np.nan_to_num(X, nan=0.0)


def _discounts(session, campaign_ids: list[str]) -> dict[tuple[str, str], list[tuple]]:
    """(campaign, customer) -> [(day used, discount)] of the counted uses of its codes."""
    out: dict[tuple[str, str], list[tuple]] = {}
    coupons = {c.code: c for c in session.scalars(
        select(Coupon).where(Coupon.campaign_id.in_(campaign_ids)))}
    if not coupons:
        return out
    codes = sorted(coupons)
    for start in range(0, len(codes), 500):
        for code, customer_id, used, total in session.execute(
                select(CouponUse.code, CouponUse.customer_id, CouponUse.used_at, Order.total)
                .join(Order, Order.id == CouponUse.order_id)
                .where(CouponUse.code.in_(codes[start:start + 500]),
                       CouponUse.state == "counted")):
            coupon = coupons[code]
            out.setdefault((coupon.campaign_id, customer_id), []).append(
                (day_of(aware(used)), discount_cost(coupon, float(total))))
    return out


def _outcomes(activity: Activity, index: dict[str, int], ids: list[tuple[str, str]],
              days: list[float], windows: list[int], costs: dict
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    order = np.argsort(activity.buyer, kind="stable")
    buyers, bought_on, value = (activity.buyer[order], activity.bought_on[order],
                                activity.value[order])
    starts = np.searchsorted(buyers, np.arange(len(activity.customer_ids) + 1))
    n = len(ids)
    purchased, revenue, cost = np.zeros(n, dtype=int), np.zeros(n), np.zeros(n)
    for i, ((campaign_id, customer_id), day, window) in enumerate(zip(ids, days, windows)):
        c = index[customer_id]
        on, spent = bought_on[starts[c]:starts[c + 1]], value[starts[c]:starts[c + 1]]
        inside = (on >= day) & (on < day + window)
        discount = sum(d for used, d in costs.get((campaign_id, customer_id), [])
                       if day <= used < day + window)
        purchased[i] = int(inside.any())
        cost[i] = discount
        revenue[i] = float(spent[inside].sum()) + discount  # before the discount
    return purchased, revenue, cost


def plan_campaign(store: Store, audience: list[str], budget: float,
                  planner: Planner, campaign_ids: list[str] | None = None,
                  now: datetime | None = None, folds: int = 2) -> dict:
    """Who in `audience` should get the offer under `budget` (total discount cost expected),
    learned from the logged offer campaigns, with the cross-fitted off-policy comparison."""
    now = now or datetime.now(UTC)
    campaign_ids = campaign_ids if campaign_ids else offer_campaigns(store, now)
    if not campaign_ids:
        raise InvalidInput("offers plan: no past campaign with a randomised offer whose window "
                           "has closed; run one with `offer: {..., share: 0.5}` first (or try "
                           "`offers plan --simulated 20000`)")
    if not audience:
        raise InvalidInput("offers plan: the campaign's audience is empty")
    activity = activity_from_store(store)
    log = campaign_log(store, campaign_ids, activity)
    arms = {name: int((log.arm == k).sum()) for k, name in enumerate(ARMS)}
    if min(arms["offer"], arms["no_offer"]) < MIN_ROWS_PER_ARM:
        raise InvalidInput(f"offers plan: the logged campaigns have {arms['offer']} offer and "
                           f"{arms['no_offer']} no-offer rows; at least {MIN_ROWS_PER_ARM} of "
                           "each are needed to learn what the offer changes")
    index = activity.index()
    known = [c for c in audience if c in index]
    X = _known(snapshot(activity, day_of(now)).X[[index[c] for c in known]])
    model = planner.fit(log)
    plan = planner.plan(model, X, np.asarray(known, dtype=object), budget)
    per_customer_budget = budget / len(known) if known else 0.0
    comparison = compare_policies(log, planner, per_customer_budget * len(log), folds=folds,
                                  seed=planner.seed)
    scale = len(known)
    estimates = {
        name: {measure: _scaled(policy.per_customer[measure], scale)
               for measure in ("incremental_revenue", "incremental_margin", "cost")}
        | {"offered_share": policy.offered_share}
        for name, policy in comparison.policies.items()}
    return {"campaigns": campaign_ids, "logged": arms, "learner": model.chosen,
            "audience": len(audience), "scored": len(known), "budget": budget,
            "plan": plan.as_dict(), "estimate": estimates,
            "evaluation": comparison.as_dict()["evaluation"]
            + f"; per customer of the {len(log)} logged rows, times the audience"}


def _scaled(estimate, scale: int) -> dict:
    return {"value": estimate.value * scale, "ci95": [estimate.low * scale,
                                                      estimate.high * scale]}
