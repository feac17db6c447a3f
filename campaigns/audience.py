"""Who a campaign goes to: the file's audience, narrowed to customers who may get marketing now
(consent given, not unsubscribed, and under the frequency cap)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import or_, select

from campaigns.rows import marketing_counts, with_rows
from campaigns.spec import Audience
from shop.errors import InvalidInput
from shop.schema import Customer, utcnow
from shop.store import Store

SegmentMembers = Callable[[int], list[str]]  # segment id -> its customer ids (from recsys)


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

    def as_dict(self) -> dict:
        return {"eligible": len(self.eligible), "matched": self.matched,
                "no_consent": self.no_consent, "unsubscribed": self.unsubscribed,
                "capped": self.capped, "unknown": self.unknown, "limit": self.limit}


def choose(store: Store, audience: Audience, limit: int | None = None,
           segment_members: SegmentMembers | None = None, campaign_id: str | None = None
           ) -> Plan:
    """`campaign_id`: also apply the frequency cap (settings `marketing_cap_emails` per
    `marketing_cap_days`, counted over every other campaign and trigger) to customers who
    have no row in this campaign yet; those who have one were admitted before and stay."""
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
    elif audience.filter:
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
    return Plan(eligible[:limit] if limit is not None else eligible, len(rows),
                no_consent=sum(1 for _, consent, _ in rows if not consent),
                unsubscribed=sum(1 for _, consent, gone in rows if consent and gone is not None),
                unknown=[cid for cid in (listed or []) if cid not in found], limit=limit,
                capped=len(capped))


def at_cap(store: Store, campaign_id: str, customer_ids: list[str]) -> set[str]:
    """Customers new to the campaign who already had the cap's marketing emails."""
    settings = store.settings
    new = sorted(set(customer_ids) - with_rows(store, campaign_id, customer_ids))
    with store.session() as session:
        counts = marketing_counts(session, new,
                                  utcnow() - timedelta(days=settings.marketing_cap_days),
                                  excluding=campaign_id)
    return {cid for cid, sent in counts.items() if sent >= settings.marketing_cap_emails}
