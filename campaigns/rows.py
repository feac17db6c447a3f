"""A campaign's rows in the store: one per (campaign, customer, template version).

Every state change is a conditional UPDATE (`... WHERE state = 'pending'`), so a job killed at
any moment, a rerun, or several Ray workers writing at once can never write a row twice: the
first commit wins and later ones change nothing. Consent is part of the same statement that
stores a generated email, so a customer who unsubscribed before that moment never gets one.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, exists, func, or_, select, update

from campaigns.spec import CampaignSpec
from shop.errors import InvalidInput
from shop.schema import Campaign, CampaignRow, Customer, TriggerFiring, utcnow
from shop.store import Store
from shop.upsert import upsert

MAX_ATTEMPTS = 3  # then the row is `failed`; its error stays for `campaign status`
BACKOFF_S = 2.0  # wait before attempt n+1: BACKOFF_S * 2**(n-1)
INSERT_CHUNK = 500


def eligible(customer_id_column=Customer.id):
    """SQL: the customer may get marketing right now (consent given, not unsubscribed)."""
    return exists().where(Customer.id == customer_id_column,
                          Customer.marketing_consent.is_(True),
                          Customer.unsubscribed_at.is_(None))


def marketing_counts(session, customer_ids: list[str], since: datetime,
                     excluding: str | None = None) -> dict[str, int]:
    """Marketing emails per customer since `since`, across every campaign and trigger rule:
    campaign rows written (or waiting to be) in that time, plus trigger firings enqueued then
    whose rows do not exist yet. `excluding` leaves one campaign's own rows and firings out."""
    counts: Counter = Counter()
    for start in range(0, len(customer_ids), INSERT_CHUNK):
        chunk = customer_ids[start:start + INSERT_CHUNK]
        rows = (select(CampaignRow.customer_id, func.count())
                .where(CampaignRow.customer_id.in_(chunk),
                       or_(and_(CampaignRow.state == "generated", CampaignRow.updated_at >= since),
                           and_(CampaignRow.state == "pending", CampaignRow.created_at >= since)))
                .group_by(CampaignRow.customer_id))
        waiting = (select(TriggerFiring.customer_id, func.count())
                   .where(TriggerFiring.customer_id.in_(chunk), TriggerFiring.state == "enqueued",
                          TriggerFiring.created_at >= since, ~firing_has_row())
                   .group_by(TriggerFiring.customer_id))
        if excluding is not None:
            rows = rows.where(CampaignRow.campaign_id != excluding)
            waiting = waiting.where(TriggerFiring.campaign_id != excluding)
        counts.update(dict(session.execute(rows).all()))
        counts.update(dict(session.execute(waiting).all()))
    return {c: counts.get(c, 0) for c in customer_ids}


def firing_has_row(*states: str):
    """SQL: a trigger firing's customer has a row in the firing's campaign (in one of
    `states`)."""
    condition = and_(CampaignRow.campaign_id == TriggerFiring.campaign_id,
                     CampaignRow.customer_id == TriggerFiring.customer_id)
    if states:
        condition = and_(condition, CampaignRow.state.in_(states))
    return exists().where(condition)


def with_rows(store: Store, campaign_id: str, customer_ids: list[str]) -> set[str]:
    """Those of `customer_ids` who already have a row in the campaign (any state)."""
    found: set[str] = set()
    with store.session() as session:
        for start in range(0, len(customer_ids), INSERT_CHUNK):
            found.update(session.scalars(select(CampaignRow.customer_id).where(
                CampaignRow.campaign_id == campaign_id,
                CampaignRow.customer_id.in_(customer_ids[start:start + INSERT_CHUNK]))))
    return found


def save_campaign(store: Store, spec: CampaignSpec, template_version: str) -> None:
    """Create the campaign or check it is the same file as last time."""
    digest = spec.digest()
    discount = spec.discount
    values = {"name": spec.name, "channel": spec.channel,
              "discount_code": discount.code if discount else None,
              "discount_percent": discount.percent if discount else None,
              "ends_at": (datetime(discount.ends.year, discount.ends.month, discount.ends.day,
                                   23, 59, 59, tzinfo=UTC)
                          if discount and discount.ends else None),
              "spec": spec.model_dump(mode="json"), "spec_hash": digest}
    with store.session() as session:
        campaign = session.get(Campaign, spec.name)
        if campaign is None:
            session.add(Campaign(id=spec.name, **values))
            return
        if campaign.spec_hash not in (None, digest):
            written = session.scalar(select(func.count()).where(
                CampaignRow.campaign_id == spec.name, CampaignRow.state == "generated"))
            if written:
                raise InvalidInput(
                    f"campaign {spec.name!r} already wrote {written} emails from a different "
                    f"file; give the changed campaign a new name")
        for key, value in values.items():
            setattr(campaign, key, value)


def add_pending(store: Store, campaign_id: str, customer_ids: list[str],
                template_version: str) -> int:
    """A pending row for each customer that has none yet; returns how many were new."""
    with store.session() as session:
        before = _count(session, campaign_id, template_version)
        now = utcnow()
        for start in range(0, len(customer_ids), INSERT_CHUNK):
            upsert(session, CampaignRow.__table__, [
                {"campaign_id": campaign_id, "customer_id": customer_id,
                 "template_version": template_version, "state": "pending", "attempts": 0,
                 "tokens": 0, "seconds": 0.0, "created_at": now, "updated_at": now}
                for customer_id in customer_ids[start:start + INSERT_CHUNK]],
                ["campaign_id", "customer_id", "template_version"], update=False)
        return _count(session, campaign_id, template_version) - before


def _count(session, campaign_id: str, template_version: str) -> int:
    return session.scalar(select(func.count()).where(
        CampaignRow.campaign_id == campaign_id,
        CampaignRow.template_version == template_version)) or 0


@dataclass
class Due:
    """A pending row ready for an attempt."""

    id: int
    customer_id: str
    attempts: int


def due_rows(store: Store, campaign_id: str, template_version: str,
             customer_ids: set[str] | None = None) -> tuple[list[Due], datetime | None]:
    """Pending rows whose backoff has passed (first attempts first, then by customer id),
    and when the next one that is still waiting becomes due."""
    now = utcnow()
    with store.session() as session:
        rows = session.execute(
            select(CampaignRow.id, CampaignRow.customer_id, CampaignRow.attempts,
                   CampaignRow.next_attempt_at)
            .where(CampaignRow.campaign_id == campaign_id,
                   CampaignRow.template_version == template_version,
                   CampaignRow.state == "pending")
            .order_by(CampaignRow.attempts, CampaignRow.customer_id)).all()
    due, waiting = [], []
    for row_id, customer_id, attempts, next_at in rows:
        if customer_ids is not None and customer_id not in customer_ids:
            continue
        next_at = _aware(next_at)
        if next_at is None or next_at <= now:
            due.append(Due(row_id, customer_id, attempts))
        else:
            waiting.append(next_at)
    return due, min(waiting, default=None)


def _aware(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; they were stored in UTC."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


@dataclass
class Written:
    row_id: int
    output: dict
    source: str
    tokens: int
    seconds: float


def commit_written(store: Store, written: list[Written]) -> Counter:
    """Store a batch of emails in one transaction. Each is stored only if its row is still
    pending and its customer still eligible at this moment; a customer who withdrew consent
    gets `skipped` instead. Returns counts: generated, skipped, already (done elsewhere)."""
    counts: Counter = Counter()
    now = utcnow()
    with store.session() as session:
        for item in written:
            stored = session.execute(
                update(CampaignRow)
                .where(CampaignRow.id == item.row_id, CampaignRow.state == "pending",
                       eligible(CampaignRow.customer_id))
                .values(state="generated", output=item.output, source=item.source,
                        tokens=item.tokens, seconds=item.seconds, error=None,
                        updated_at=now)
                .execution_options(synchronize_session=False)).rowcount
            if stored:
                counts["generated"] += 1
                continue
            counts["skipped" if skip(session, [item.row_id]) else "already"] += 1
    return counts


def skip(session, row_ids: list[int], reason: str = "no marketing consent or unsubscribed"
         ) -> int:
    """Pending rows -> skipped (their customers may no longer get marketing)."""
    if not row_ids:
        return 0
    return session.execute(
        update(CampaignRow)
        .where(CampaignRow.id.in_(row_ids), CampaignRow.state == "pending")
        .values(state="skipped", error=reason, updated_at=utcnow())
        .execution_options(synchronize_session=False)).rowcount


def skip_ineligible(store: Store, rows: list[Due]) -> set[int]:
    """Skip the rows whose customers withdrew consent since the audience was chosen (before
    spending generation on them); returns the skipped row ids."""
    ids = [row.id for row in rows]
    with store.session() as session:
        gone = set(session.scalars(select(CampaignRow.id).where(
            CampaignRow.id.in_(ids), ~eligible(CampaignRow.customer_id))))
        skip(session, sorted(gone))
    return gone


def record_failure(store: Store, rows: list[Due], error: str) -> Counter:
    """Count an attempt for each row: back off and retry later, or give up after
    MAX_ATTEMPTS (`failed`, with the error kept)."""
    counts: Counter = Counter()
    now = utcnow()
    with store.session() as session:
        for row in rows:
            attempts = row.attempts + 1
            final = attempts >= MAX_ATTEMPTS
            session.execute(
                update(CampaignRow)
                .where(CampaignRow.id == row.id, CampaignRow.state == "pending")
                .values(attempts=attempts, error=error[:2000], updated_at=now,
                        state="failed" if final else "pending",
                        next_attempt_at=None if final else
                        now + timedelta(seconds=BACKOFF_S * 2 ** (attempts - 1)))
                .execution_options(synchronize_session=False))
            counts["failed" if final else "retry"] += 1
    return counts


def state_counts(store: Store, campaign_id: str) -> dict[str, dict]:
    """{template_version: {"states": {state: n}, "sources": {source: n}}}."""
    out: dict[str, dict] = {}
    with store.session() as session:
        for version, state, source, n in session.execute(
                select(CampaignRow.template_version, CampaignRow.state, CampaignRow.source,
                       func.count()).where(CampaignRow.campaign_id == campaign_id)
                .group_by(CampaignRow.template_version, CampaignRow.state,
                          CampaignRow.source)):
            entry = out.setdefault(version, {"states": Counter(), "sources": Counter()})
            entry["states"][state] += n
            if state == "generated" and source:
                entry["sources"][source] += n
    return {v: {"states": dict(e["states"]), "sources": dict(e["sources"])}
            for v, e in out.items()}


def failures(store: Store, campaign_id: str, limit: int = 10) -> list[tuple[str, str]]:
    with store.session() as session:
        return [tuple(row) for row in session.execute(
            select(CampaignRow.customer_id, CampaignRow.error)
            .where(CampaignRow.campaign_id == campaign_id, CampaignRow.state == "failed")
            .order_by(CampaignRow.customer_id).limit(limit))]


def generated_rows(store: Store, campaign_id: str, template_version: str):
    """(customer id, output, source, tokens, seconds, still eligible) of every written email,
    by customer id."""
    with store.session() as session:
        return session.execute(
            select(CampaignRow.customer_id, CampaignRow.output, CampaignRow.source,
                   CampaignRow.tokens, CampaignRow.seconds,
                   eligible(CampaignRow.customer_id).label("eligible"))
            .where(CampaignRow.campaign_id == campaign_id,
                   CampaignRow.template_version == template_version,
                   CampaignRow.state == "generated")
            .order_by(CampaignRow.customer_id)).all()
