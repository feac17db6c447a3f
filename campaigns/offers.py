"""A campaign's personal offer: who gets it, their codes, and what the codes earned.

    assign_arms     each audience member's arm, `offer` with probability `share`, else
                    `no_offer` (the same email without it), from a seeded hash of (campaign,
                    customer, seed): the same on every rerun, and logged with its propensity so
                    the offer can be evaluated later (experiments/, recsys/value/)
    issue_codes     a code per `offer` recipient (or one shared code), made before their email
                    is written; idempotent: a rerun or a resumed job finds the code it issued,
                    and the unique (campaign, customer) index stops a second one
    campaign_offers the report: issued, redeemed, revenue, discount cost, flagged uses, arms

Codes are 12 symbols from an alphabet without 0/O and 1/I (shop/coupons.py), 60 bits from
`secrets`: unguessable, and a collision with a stored code is drawn again. Orders redeem them
in shop/coupons.py (the shop layer, where orders are written). A `control` arm is the global
holdout's (campaigns/control.py): an existing arm is never replaced here.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

from sqlalchemy import func, select

from campaigns.spec import Offer
from gen.tasks.email_offer import PersonalOffer
from shop.coupons import CODE_ALPHABET, CODE_GROUPS, GROUP_SIZE, SHARED
from shop.errors import InvalidInput, NotFound
from shop.schema import Campaign, Product, aware
from shop.store import Store
from shop.upsert import upsert
from shop.value_tables import Coupon, CouponUse, OfferArm

CHUNK = 500
MAX_DRAWS = 5  # rounds of fresh codes for collisions; 60 bits make a second one unheard of


@dataclass(frozen=True)
class IssuedCode:
    """A coupon as the job and the email need it."""

    code: str
    customer_id: str  # shop.coupons.SHARED for a campaign's shared code
    kind: str
    value: float  # the offer's percent or amount (free shipping: 0)
    currency: str
    expires_at: datetime

    def personal(self) -> PersonalOffer:
        return PersonalOffer(self.kind, self.value, self.code, self.currency, self.expires_at)


def new_code() -> str:
    """XXXX-XXXX-XXXX from `secrets` (60 bits)."""
    symbols = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_GROUPS * GROUP_SIZE))
    return "-".join(symbols[i:i + GROUP_SIZE] for i in range(0, len(symbols), GROUP_SIZE))


def arm_of(campaign_id: str, customer_id: str, seed: int, share: float) -> tuple[str, float]:
    """(arm, propensity): `offer` when the customer's hash falls under `share`."""
    digest = hashlib.sha256(f"offer|{campaign_id}|{customer_id}|{seed}".encode()).digest()
    draw = int.from_bytes(digest[:8], "big") / 2.0**64  # uniform in [0, 1)
    if share <= 0.0:
        return "no_offer", 1.0
    return ("offer", share) if draw < share else ("no_offer", 1.0 - share)


def offer_shares(offer: Offer) -> float | Callable[[str], float]:
    """Each customer's probability of the offer arm: the offer's `share`, or with a `plan`
    1 - explore for the planned customers and `explore` for the others."""
    if offer.plan is None:
        return offer.share
    try:
        lines = Path(offer.plan).read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise InvalidInput(f"offer plan {offer.plan}: {error.strerror}; write one with "
                           "`shopwright offers plan CAMPAIGN --budget AMOUNT --out FILE`"
                           ) from None
    planned = {line.strip() for line in lines if line.strip()}
    return lambda customer_id: 1.0 - offer.explore if customer_id in planned \
        else offer.explore


def assign_arms(store: Store, campaign_id: str, customer_ids: list[str],
                share: float | Callable[[str], float], seed: int = 0,
                now: datetime | None = None) -> dict[str, str]:
    """Write the arm of each customer who has none yet in this campaign (`share`: the
    probability of the offer, one for all or per customer); returns every given customer's
    arm (as stored: one assigned earlier, or a control arm, stays)."""
    now = now or datetime.now(UTC)
    share_of = share if callable(share) else (lambda _customer: share)
    with store.session() as session:
        for start in range(0, len(customer_ids), CHUNK):
            rows = []
            for customer_id in customer_ids[start:start + CHUNK]:
                arm, propensity = arm_of(campaign_id, customer_id, seed,
                                          share_of(customer_id))
                rows.append({"campaign_id": campaign_id, "customer_id": customer_id, "arm": arm,
                             "propensity": propensity, "assigned_at": now})
            upsert(session, OfferArm, rows, ["campaign_id", "customer_id"], update=False)
        return _arms(session, campaign_id, customer_ids)


def arms(store: Store, campaign_id: str, customer_ids: list[str]) -> dict[str, str]:
    with store.session() as session:
        return _arms(session, campaign_id, customer_ids)


def _arms(session, campaign_id: str, customer_ids: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for start in range(0, len(customer_ids), CHUNK):
        found.update(session.execute(select(OfferArm.customer_id, OfferArm.arm).where(
            OfferArm.campaign_id == campaign_id,
            OfferArm.customer_id.in_(customer_ids[start:start + CHUNK]))).all())
    return found


def expiry(now: datetime, days: int) -> datetime:
    """The end (UTC) of the day `days` after `now`: the last day the email names."""
    return datetime.combine((now + timedelta(days=days)).date(), time(23, 59, 59), tzinfo=UTC)


def issue_codes(store: Store, campaign_id: str, customer_ids: list[str], offer: Offer,
                currency: str, now: datetime | None = None) -> dict[str, IssuedCode]:
    """customer id -> their code for this campaign, issuing the missing ones (all of them
    sharing one code when `offer.unique_codes` is off)."""
    now = now or datetime.now(UTC)
    holders = [SHARED] if not offer.unique_codes else list(dict.fromkeys(customer_ids))
    # free shipping is worth nothing to state, but costs the shop its delivery: kept as value
    value = store.settings.free_shipping_cost if offer.kind == "free_shipping" else offer.value
    template = {"campaign_id": campaign_id, "kind": offer.kind, "value": value,
                "currency": currency, "issued_at": now,
                "expires_at": expiry(now, offer.expires_days), "redeemed_at": None,
                "order_id": None, "revenue": 0.0, "discount_cost": 0.0}
    with store.session() as session:
        issued = _coupons(session, campaign_id, holders)
        for _ in range(MAX_DRAWS):
            missing = [h for h in holders if h not in issued]
            if not missing:
                break
            codes = _fresh_codes(session, len(missing))
            upsert(session, Coupon, [template | {"code": code, "customer_id": holder}
                                     for holder, code in zip(missing, codes)],
                   ["campaign_id", "customer_id"], update=False)
            issued = _coupons(session, campaign_id, holders)  # a racing writer's code wins
    views = {holder: IssuedCode(c.code, holder, c.kind,
                                0.0 if c.kind == "free_shipping" else c.value, c.currency,
                                aware(c.expires_at)) for holder, c in issued.items()}
    if not offer.unique_codes:
        return {customer_id: views[SHARED] for customer_id in customer_ids}
    return {customer_id: views[customer_id] for customer_id in customer_ids}


def _coupons(session, campaign_id: str, holders: list[str]) -> dict[str, Coupon]:
    found: dict[str, Coupon] = {}
    for start in range(0, len(holders), CHUNK):
        for coupon in session.scalars(select(Coupon).where(
                Coupon.campaign_id == campaign_id,
                Coupon.customer_id.in_(holders[start:start + CHUNK]))):
            found[coupon.customer_id] = coupon
    return found


def _fresh_codes(session, n: int) -> list[str]:
    """`n` new codes, none alike and none already stored (drawn again until so)."""
    codes: set[str] = set()
    while len(codes) < n:
        drawn = {new_code() for _ in range(n - len(codes))} - codes
        taken: set[str] = set()
        listed = sorted(drawn)
        for start in range(0, len(listed), CHUNK):
            taken.update(session.scalars(select(Coupon.code).where(
                Coupon.code.in_(listed[start:start + CHUNK]))))
        codes |= drawn - taken
    return list(codes)


def shop_currency(store: Store) -> str:
    """The currency most of the catalog is priced in (an amount offer's), else EUR."""
    with store.session() as session:
        row = session.execute(select(Product.currency, func.count()).group_by(Product.currency)
                              .order_by(func.count().desc(), Product.currency).limit(1)).first()
    return row[0] if row else "EUR"


# ---- the report -----------------------------------------------------------------------------


def campaign_offers(store: Store, campaign_id: str) -> dict:
    """What a campaign's offer did: codes issued and redeemed (a shared code: recipients and
    counted uses), the revenue of the orders that redeemed one and what the codes took off,
    the uses flagged and not counted (by state), and how many customers were in each arm."""
    with store.session() as session:
        campaign = session.get(Campaign, campaign_id)
        if campaign is None:
            raise NotFound(f"no campaign {campaign_id!r}; campaigns exist once "
                           "`shopwright campaign run` has run them")
        coupons = session.scalars(select(Coupon).where(Coupon.campaign_id == campaign_id)).all()
        codes = [c.code for c in coupons]
        uses: Counter = Counter()
        for start in range(0, len(codes), CHUNK):
            uses.update(dict(session.execute(
                select(CouponUse.state, func.count())
                .where(CouponUse.code.in_(codes[start:start + CHUNK]))
                .group_by(CouponUse.state)).all()))
        arm_counts = dict(session.execute(select(OfferArm.arm, func.count())
                                          .where(OfferArm.campaign_id == campaign_id)
                                          .group_by(OfferArm.arm)).all())
    shared = any(c.customer_id == SHARED for c in coupons)
    issued = arm_counts.get("offer", 0) if shared else len(coupons)
    redeemed = uses.get("counted", 0) if shared else sum(1 for c in coupons if c.redeemed_at)
    revenue = round(sum(c.revenue or 0.0 for c in coupons), 2)
    cost = round(sum(c.discount_cost or 0.0 for c in coupons), 2)
    return {"campaign_id": campaign_id, "offer": (campaign.spec or {}).get("offer"),
            "shared_code": shared, "issued": issued, "redeemed": redeemed,
            "redemption_rate": round(redeemed / issued, 4) if issued else None,
            "revenue": revenue, "discount_cost": cost,
            "currency": coupons[0].currency if coupons else None,
            "flagged": {state: uses.get(state, 0)
                        for state in ("reused", "other_customer", "expired")},
            "arms": {arm: arm_counts.get(arm, 0) for arm in ("offer", "no_offer", "control")}}
