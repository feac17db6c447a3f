"""How chat answers end, and what shoppers say of them: one `chat_outcomes` row per answer.

    outcome   pages | vetted | orders | products | handoff | no_answer
    reason    for a handoff: asked for a person | no answer found | order action | complaint |
              repeated question
    helpful   the shopper's "Did this answer your question?" (yes / no, a comment), or unset

The report counts conversations (a chat session with at least one answer) over a period:
- involvement: conversations in which the chat answered at least once without a person;
- resolution, in two figures never added together: *confirmed* (the shopper said yes and no
  handoff came after) and *assumed* (no verdict, no handoff, no "no", and the shopper did not
  come back within 24 hours of the last answer); conversations younger than that are *open*;
- handoffs: the share of conversations handed to a person, and the count of each reason;
- satisfaction: yes / (yes + no) over the answers that got a verdict;
- knowledge gaps: the questions that got no answer or a "no" (grouped by the gen layer).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from shop.errors import NotFound
from shop.keys import digest
from shop.schema import aware, utcnow
from shop.store import Store
from shop.support_tables import ChatOutcome

QUIET = timedelta(hours=24)  # no new question for this long after an answer: assumed resolved
REASONS = ("asked for a person", "no answer found", "order action", "complaint",
           "repeated question")


def record_outcome(store: Store, session_id: str, turn_id: int | None, question: str,
                   outcome: str, reason: str = "", vetted_id: str | None = None) -> None:
    with store.session() as session:
        session.add(ChatOutcome(session_hash=digest(session_id), turn_id=turn_id,
                                question=question[:2000], outcome=outcome,
                                handoff_reason=reason, vetted_id=vetted_id))


def give_feedback(store: Store, session_id: str, turn_id: int, helpful: bool,
                  comment: str = "") -> dict[str, Any]:
    """The shopper's verdict on one answer of their session (sent again, it replaces the
    first). NotFound when the turn is not an answer of this session."""
    with store.session() as session:
        row = session.scalars(select(ChatOutcome).where(
            ChatOutcome.session_hash == digest(session_id),
            ChatOutcome.turn_id == turn_id)).first()
        if row is None:
            raise NotFound("no answer with that turn_id in this chat session")
        row.helpful, row.comment, row.feedback_at = helpful, comment.strip()[:2000], utcnow()
        return {"turn_id": turn_id, "helpful": helpful, "comment": row.comment}


def outcome_rows(store: Store, since: datetime, until: datetime) -> list[ChatOutcome]:
    with store.session() as session:
        return list(session.scalars(select(ChatOutcome).where(
            ChatOutcome.at >= since, ChatOutcome.at < until)
            .order_by(ChatOutcome.session_hash, ChatOutcome.at, ChatOutcome.id)))


def support_counts(rows: list[ChatOutcome], now: datetime | None = None) -> dict[str, Any]:
    """The report's figures (see the module docstring) from outcome rows."""
    now = now or utcnow()
    conversations: dict[str, list[ChatOutcome]] = defaultdict(list)
    for row in rows:
        conversations[row.session_hash].append(row)
    n = len(conversations)
    involved = confirmed = assumed = still_open = handed = 0
    reasons: Counter[str] = Counter()
    for turns in conversations.values():
        involved += any(t.outcome != "handoff" for t in turns)
        handoffs = [i for i, t in enumerate(turns) if t.outcome == "handoff"]
        handed += bool(handoffs)
        reasons.update(turns[i].handoff_reason or "no answer found" for i in handoffs)
        yes = [i for i, t in enumerate(turns) if t.helpful is True]
        if yes and not [i for i in handoffs if i > yes[-1]]:
            confirmed += 1
        elif not handoffs and not any(t.helpful is False for t in turns) and not yes:
            if now - aware(turns[-1].at) >= QUIET:
                assumed += 1
            else:
                still_open += 1
    said = [row.helpful for row in rows if row.helpful is not None]
    share = (lambda k: round(k / n, 4) if n else None)
    return {
        "conversations": n, "answers": len(rows),
        "involvement": share(involved),
        "resolution": {"confirmed": share(confirmed), "assumed": share(assumed),
                       "open": share(still_open), "confirmed_count": confirmed,
                       "assumed_count": assumed, "open_count": still_open},
        "handoff": {"rate": share(handed), "count": handed,
                    "by_reason": {reason: reasons.get(reason, 0) for reason in REASONS}
                    | {r: c for r, c in reasons.items() if r not in REASONS}},
        "satisfaction": {"yes": said.count(True), "no": said.count(False),
                         "rate": round(said.count(True) / len(said), 4) if said else None},
        "outcomes": dict(Counter(row.outcome for row in rows)),
    }


def gap_rows(rows: list[ChatOutcome]) -> list[dict[str, Any]]:
    """The questions that got no answer, a handoff for want of one, or a "no"."""
    return [{"question": row.question, "why": "thumbs down" if row.helpful is False else
             "unanswered", "comment": row.comment, "at": aware(row.at).isoformat()}
            for row in rows if row.question and (
                row.helpful is False or row.outcome == "no_answer"
                or (row.outcome == "handoff" and row.handoff_reason == "no answer found"))]
