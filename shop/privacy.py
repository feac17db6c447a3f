"""A customer's personal data: export it (GDPR art. 15, 20) and erase it (art. 17), audited.

Everything keyed by the customer lives in these tables: `customers`, `events`,
`generated_content` (emails written for them; chat turns are stored redacted and mostly without
a customer id), `campaign_rows` (their emails, address included), `chat_sessions` with their
`chat_turns` and `chat_outcomes` (the conversations of sessions opened for them, and the
shopper's verdicts and comments on the answers), the experiments'
`experiment_assignments` and `experiment_feedback`, `trigger_firings`, their `orders`, the
`order_requests` they made in the chat, the `reviews` they wrote and their predicted value
(`customer_scores`), the campaign codes issued to them (`coupons`), the orders that carried
a code (`coupon_uses`) and which arm of a campaign's offer they were in (`offer_arms`).
Erasure deletes
all of it in one transaction, plus their copies in the campaign files under
`settings.campaigns_dir`.
Both operations add an `audit_log` row naming the actor and the counts, never the data.

Derived state outside the store is the caller's job: the recommender's live profile
(`RecommenderService.forget`); its persisted model keeps a row for them until the next
retrain, but is never mapped to an id missing from `customers`. A product's aspect sentiment
(retrieval/review_aspects.py) is computed from the stored reviews each time, so an erased
customer's words leave it with their reviews.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from shop.errors import NotFound
from shop.files import replace_file, safe_name
from shop.review_tables import Review
from shop.schema import (
    Assignment,
    AuditLog,
    CampaignRow,
    ChatSession,
    ChatTurn,
    Customer,
    Event,
    Feedback,
    GeneratedContent,
    TriggerFiring,
)
from shop.sessions import session_turns
from shop.store import Store
from shop.support_tables import ChatOutcome, Order, OrderRequest
from shop.value_tables import Coupon, CouponUse, CustomerScore, OfferArm

# (customer id) -> their segment as a small dict, or None; given by the edge (recsys is above)
SegmentLookup = Callable[[str], dict | None]

KEYED_TABLES = (("order_requests", OrderRequest), ("orders", Order),  # requests first (key)
                ("events", Event), ("generated_content", GeneratedContent),
                ("campaign_rows", CampaignRow), ("chat_sessions", ChatSession),
                ("experiment_assignments", Assignment), ("experiment_feedback", Feedback),
                ("trigger_firings", TriggerFiring), ("reviews", Review),
                ("customer_scores", CustomerScore), ("coupon_uses", CouponUse),
                ("coupons", Coupon), ("offer_arms", OfferArm))
# exported as they are stored: (table, its columns in the export)
PLAIN_TABLES = (("experiment_assignments", Assignment,
                 ("experiment_id", "variant", "propensity", "segment", "ts")),
                ("experiment_feedback", Feedback,
                 ("experiment_id", "variant", "event", "segment", "ts")),
                ("trigger_firings", TriggerFiring,
                 ("rule", "fired_at", "state", "campaign_id", "product_ids")),
                ("orders", Order, ("id", "status", "placed_at", "shipped_at", "delivered_at",
                                   "carrier", "tracking_url", "total", "currency", "items")),
                ("order_requests", OrderRequest,
                 ("id", "order_id", "kind", "state", "message", "created_at", "updated_at")),
                ("reviews", Review,
                 ("id", "product_id", "rating", "text", "language", "created_at")),
                ("coupons", Coupon, ("code", "campaign_id", "kind", "value", "currency",
                                     "issued_at", "expires_at", "redeemed_at", "order_id")),
                ("coupon_uses", CouponUse, ("code", "order_id", "used_at", "state")),
                ("offer_arms", OfferArm, ("campaign_id", "arm", "propensity", "assigned_at")))


def export_customer(store: Store, customer_id: str, actor: str,
                    segment: SegmentLookup | None = None,
                    action: Literal["export", "view"] = "export") -> dict:
    """Everything stored about one customer, as JSON-ready data, audited as `action` (an
    export handed out, or a person viewing it on screen). Unknown id: NotFound."""
    with store.session() as session:
        customer = _customer(session, customer_id)
        events = session.scalars(select(Event).where(Event.customer_id == customer_id)
                                 .order_by(Event.ts, Event.id)).all()
        content = session.scalars(select(GeneratedContent)
                                  .where(GeneratedContent.customer_id == customer_id)
                                  .order_by(GeneratedContent.id)).all()
        rows = session.scalars(select(CampaignRow).where(CampaignRow.customer_id == customer_id)
                               .order_by(CampaignRow.id)).all()
        chats = session.scalars(select(ChatSession).where(ChatSession.customer_id == customer_id)
                                .order_by(ChatSession.created_at)).all()
        export = {
            "customer_id": customer.id,
            "profile": {"id": customer.id, "first_name": customer.first_name,
                        "email": customer.email, "locale": customer.locale,
                        "marketing_consent": customer.marketing_consent,
                        "unsubscribed_at": _iso(customer.unsubscribed_at),
                        "created_at": _iso(customer.created_at)},
            "events": [{"type": e.type, "product_id": e.product_id, "query": e.query,
                        "session_id": e.session_id, "ts": _iso(e.ts),
                        "idempotency_key": e.idempotency_key} for e in events],
            "generated_content": [{"id": c.id, "task": c.task, "product_id": c.product_id,
                                   "campaign_id": c.campaign_id, "status": c.status,
                                   "model": c.model, "created_at": _iso(c.created_at),
                                   "output": c.output} for c in content],
            "campaign_emails": [{"campaign_id": r.campaign_id,
                                 "template_version": r.template_version, "state": r.state,
                                 "created_at": _iso(r.created_at), "output": r.output}
                                for r in rows],
            "chats": [{"created_at": _iso(c.created_at), "expires_at": _iso(c.expires_at),
                       "handoff": c.handoff, "turns": session_turns(session, c.id_hash),
                       "outcomes": _outcomes(session, c.id_hash)} for c in chats],
            "segment": segment(customer_id) if segment else None,
            "scores": _scores(session.get(CustomerScore, customer_id)),
        }
        for name, table, columns in PLAIN_TABLES:
            found = session.scalars(select(table).where(table.customer_id == customer_id)
                                    .order_by(*table.__mapper__.primary_key)).all()
            export[name] = [{column: _plain(getattr(row, column)) for column in columns}
                            for row in found]
        counts = {"events": len(events), "generated_content": len(content),
                  "campaign_rows": len(rows), "chat_sessions": len(chats),
                  "chat_outcomes": sum(len(c["outcomes"]) for c in export["chats"]),
                  **{name: len(export[name]) for name, _, _ in PLAIN_TABLES}}
        _audit(session, actor, action, customer_id, counts)
    return export


def _outcomes(session: Session, id_hash: str) -> list[dict[str, Any]]:
    """How each answer of one chat session ended, and what the shopper said of it (their
    "Did this answer your question?" and its comment)."""
    rows = session.scalars(select(ChatOutcome).where(ChatOutcome.session_hash == id_hash)
                           .order_by(ChatOutcome.id)).all()
    return [{"turn_id": r.turn_id, "at": _iso(r.at), "question": r.question,
             "outcome": r.outcome, "handoff_reason": r.handoff_reason, "helpful": r.helpful,
             "comment": r.comment, "feedback_at": _iso(r.feedback_at)} for r in rows]


def erase_customer(store: Store, customer_id: str, actor: str) -> dict:
    """Delete the customer and every row keyed by them, in one transaction; return the counts.
    Unknown id: NotFound (an erasure repeated after success is a 404, and audited once)."""
    with store.session() as session:
        customer = _customer(session, customer_id)
        counts: dict[str, int] = {}
        turns = ChatTurn.session_hash.in_(select(ChatSession.id_hash)
                                          .where(ChatSession.customer_id == customer_id))
        counts["chat_turns"] = session.scalar(select(func.count()).select_from(ChatTurn)
                                              .where(turns)) or 0
        session.execute(delete(ChatTurn).where(turns))  # before their sessions (foreign key)
        outcomes = ChatOutcome.session_hash.in_(select(ChatSession.id_hash)
                                                .where(ChatSession.customer_id == customer_id))
        counts["chat_outcomes"] = session.scalar(select(func.count()).select_from(ChatOutcome)
                                                 .where(outcomes)) or 0
        session.execute(delete(ChatOutcome).where(outcomes))  # their feedback comments too
        for name, table in KEYED_TABLES:
            counts[name] = session.scalar(select(func.count()).select_from(table)
                                          .where(table.customer_id == customer_id)) or 0
            session.execute(delete(table).where(table.customer_id == customer_id))
        session.delete(customer)
        session.flush()  # the customer row goes before the audit row is written
        counts["customers"] = 1
        _audit(session, actor, "erase", customer_id, counts)
    counts["campaign_files"] = _erase_campaign_files(store.settings.campaigns_dir, customer_id)
    return counts


def audit_entries(store: Store, subject: str | None = None) -> list[dict]:
    with store.session() as session:
        query = select(AuditLog).order_by(AuditLog.id)
        if subject is not None:
            query = query.where(AuditLog.subject == subject)
        return [{"at": _iso(a.at), "actor": a.actor, "action": a.action, "subject": a.subject,
                 "detail": a.detail} for a in session.scalars(query)]


def _scores(row: CustomerScore | None) -> dict | None:
    """Their predicted value (recsys/value/scores.py), as the audiences read it."""
    if row is None:
        return None
    return {name: _plain(getattr(row, name)) for name in (
        "p_purchase", "expected_orders", "expected_spend", "churn_risk", "next_order_date",
        "as_of", "horizon_days", "model")}


def _customer(session: Session, customer_id: str) -> Customer:
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"no customer {customer_id!r}")
    return customer


def _audit(session: Session, actor: str, action: str, subject: str, detail: dict) -> None:
    session.add(AuditLog(actor=actor, action=action, subject=subject, detail=detail))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _plain(value: Any) -> Any:
    return _iso(value) if isinstance(value, datetime) else value


def _erase_campaign_files(campaigns_dir: Path, customer_id: str) -> int:
    """Drop the customer from written campaign files (campaigns/output.py's layout): their line
    in each `emails.jsonl` and their `eml/ID.eml`. Returns how many files changed."""
    changed = 0
    safe = safe_name(customer_id)
    for emails in sorted(Path(campaigns_dir).glob("*/emails.jsonl")):
        lines = emails.read_text(encoding="utf-8").splitlines(keepends=True)
        kept = [line for line in lines if _line_customer(line) != customer_id]
        if len(kept) != len(lines):
            replace_file(emails, "".join(kept))
            changed += 1
        eml = emails.parent / "eml" / f"{safe}.eml"
        if eml.is_file():
            eml.unlink()
            changed += 1
    return changed


def _line_customer(line: str) -> Any:
    try:
        return json.loads(line).get("customer_id")
    except (ValueError, AttributeError):
        return None
