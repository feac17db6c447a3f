"""Who a campaign goes to: the file's audience, narrowed to customers who may get marketing now
(consent given, not unsubscribed, and under the frequency cap), less the global control group
(campaigns/control.py), who are counted and never emailed.

An audience by `scores` reads the stored predicted values (`customer_scores`); one by
`product` asks the recommender, through the `ProductAudience` callable the edge passes in, for
the customers most likely to buy it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import exists, or_, select

from campaigns.control import control_members
from campaigns.rows import marketing_counts, with_rows
from campaigns.spec import Audience
from shop.errors import InvalidInput
from shop.schema import Customer, utcnow
from shop.store import Store
from shop.value_tables import CustomerScore

SegmentMembers = Callable[[int], list[str]]  # segment id -> its customer ids (from recsys)
# (product id, count) -> the customers most likely to buy it, best first, buyers left out
ProductAudience = Callable[[str, int], list[str]]
OPERATORS = {">": "__gt__", ">=": "__ge__", "<": "__lt__", "<=": "__le__"}


@dataclass
class Plan:
    """The audience as chosen now, before anything is written."""

    eligible: list[str]  # customer ids, sorted; `--limit` already applied
    matched: int  # customers the audience names that exist
    no_consent: int
    unsubscribed: int
    unknown: list[str] = field(default_factory=list)  # listed ids the store does not have
    limit: int | None = None
    capped: int = 0  # may get marketing, but already had the cap's emails in its window
    control_ids: list[str] = field(default_factory=list)  # held out: the control group

    @property
    def control(self) -> int:
        return len(self.control_ids)

    def as_dict(self) -> dict:
        return {"eligible": len(self.eligible), "matched": self.matched,
                "no_consent": self.no_consent, "unsubscribed": self.unsubscribed,
                "capped": self.capped, "control": self.control, "unknown": self.unknown,
                "limit": self.limit}


def choose(store: Store, audience: Audience, limit: int | None = None,
           segment_members: SegmentMembers | None = None, campaign_id: str | None = None,
           product_audience: ProductAudience | None = None) -> Plan:
    """`campaign_id`: also apply the frequency cap (settings `marketing_cap_emails` per
    `marketing_cap_days`, counted over every other campaign and trigger) to customers who
    have no row in this campaign yet; those who have one were admitted before and stay.
    Control-group members who pass all that are held out (`Plan.control_ids`), within the
    ids `limit` reaches, so the two groups are alike but for the email."""
    query = select(Customer.id, Customer.marketing_consent, Customer.unsubscribed_at)
    listed: list[str] | None = None
    if audience.customer_ids:
        listed = list(dict.fromkeys(audience.customer_ids))
    elif audience.segment is not None:
        if segment_members is None:
            raise InvalidInput("audience.segment needs the recommender's segments")
        listed = segment_members(audience.segment)
        if not listed:
            raise InvalidInput(f"audience.segment: segment {audience.segment} has no customers "
                               "(`shopwright segments` lists them)")
    elif audience.product is not None:
        if product_audience is None:
            raise InvalidInput("audience.product needs the recommender")
        listed = list(dict.fromkeys(product_audience(audience.product.id,
                                                     audience.product.count)))
        if not listed:
            raise InvalidInput(f"audience.product: no customer is likely to buy "
                               f"{audience.product.id} (or all of them bought it)")
    if audience.scores:
        query = query.where(*_score_conditions(store, audience))
    if audience.filter:
        for name, value in audience.filter.items():
            column = getattr(Customer, name)
            if name == "locale":  # "de" matches de, de-DE, de-AT ...
                query = query.where(or_(column == value, column.like(f"{value}-%")))
            else:
                query = query.where(column == value)
    rows = []
    with store.session() as session:
        if listed is None:
            rows = session.execute(query.order_by(Customer.id)).all()
        else:
            for start in range(0, len(listed), 500):
                rows += session.execute(query.where(
                    Customer.id.in_(listed[start:start + 500]))).all()
            rows.sort(key=lambda row: row[0])
    found = {row[0] for row in rows}
    eligible = [cid for cid, consent, gone in rows if consent and gone is None]
    capped = at_cap(store, campaign_id, eligible) if campaign_id else set()
    eligible = [cid for cid in eligible if cid not in capped]
    held_out = control_members(eligible, store.settings)
    eligible = [cid for cid in eligible if cid not in held_out]
    control = sorted(held_out)
    if limit is not None and len(eligible) > limit:
        eligible = eligible[:limit]
        control = [cid for cid in control if cid <= eligible[-1]]
    return Plan(eligible, len(rows),
                no_consent=sum(1 for _, consent, _ in rows if not consent),
                unsubscribed=sum(1 for _, consent, gone in rows if consent and gone is not None),
                unknown=[cid for cid in (listed or []) if cid not in found], limit=limit,
                capped=len(capped), control_ids=control)


def _score_conditions(store: Store, audience: Audience) -> list:
    """SQL conditions on the customer's stored scores (a customer without one matches none)."""
    with store.session() as session:
        if not session.scalar(select(exists().select_from(CustomerScore))):
            raise InvalidInput("audience.scores: no customer scores are stored yet; run "
                               "`shopwright customers scores` or `shopwright recsys retrain` "
                               "first")
    tests = [getattr(getattr(CustomerScore, name), OPERATORS[op])(value)
             for name, op, value in audience.score_conditions()]
    return [exists().where(CustomerScore.customer_id == Customer.id, *tests)]


def at_cap(store: Store, campaign_id: str, customer_ids: list[str]) -> set[str]:
    """Customers new to the campaign who already had the cap's marketing emails."""
    settings = store.settings
    new = sorted(set(customer_ids) - with_rows(store, campaign_id, customer_ids))
    with store.session() as session:
        counts = marketing_counts(session, new,
                                  utcnow() - timedelta(days=settings.marketing_cap_days),
                                  excluding=campaign_id)
    return {cid for cid, sent in counts.items() if sent >= settings.marketing_cap_emails}
