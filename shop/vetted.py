"""Vetted answers: the shop's own answers to questions shoppers ask, kept by people.

They come from two places:
- the support history (`ingest support-history`): each resolved ticket's question and reply,
  upserted by ticket id; an unresolved ticket is stored retired, never served;
- the studio: a person writes one, edits or retires any, or turns a knowledge gap (a question
  the chat could not answer) into one.
A person's edit wins over the history: ingesting the same file again leaves an answer someone
edited or retired as they left it. The chat reads the active ones (gen/tasks/vetted.py).
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shop.errors import InvalidInput, NotFound
from shop.records import SupportRecord
from shop.schema import utcnow
from shop.store import Store
from shop.support_tables import VettedAnswer
from shop.upsert import upsert

MAX_QUESTION, MAX_ANSWER = 4000, 8000


def history_row(record: SupportRecord) -> dict[str, Any]:
    now = utcnow()
    return {"id": record.id, "question": record.question.strip(),
            "answer": record.answer.strip(), "tags": record.tags, "active": record.resolved,
            "origin": "history", "created_at": record.created_at or now, "updated_at": now,
            "edited_at": None}


def write_history(session: Session, rows: list[dict[str, Any]]) -> None:
    """Upsert tickets, leaving alone those a person has edited or retired since."""
    ids = [row["id"] for row in rows]
    edited = set(session.scalars(select(VettedAnswer.id).where(
        VettedAnswer.id.in_(ids), VettedAnswer.edited_at.is_not(None))))
    upsert(session, VettedAnswer, [row for row in rows if row["id"] not in edited], ["id"],
           update=True)


def vetted_answers(store: Store, active: bool | None = True) -> list[dict[str, Any]]:
    """Vetted answers (active only by default; None: all), newest change first."""
    query = select(VettedAnswer).order_by(VettedAnswer.updated_at.desc(), VettedAnswer.id)
    if active is not None:
        query = query.where(VettedAnswer.active.is_(active))
    with store.session() as session:
        return [_as_dict(row) for row in session.scalars(query)]


def add_vetted(store: Store, question: str, answer: str, origin: str = "studio",
               tags: list[str] | None = None) -> dict[str, Any]:
    question, answer = _checked(question, answer)
    now = utcnow()
    row = VettedAnswer(id=f"va-{secrets.token_hex(5)}", question=question, answer=answer,
                       tags=tags or [], active=True, origin=origin, created_at=now,
                       updated_at=now, edited_at=now)
    with store.session() as session:
        session.add(row)
        session.flush()
        return _as_dict(row)


def edit_vetted(store: Store, answer_id: str, question: str | None = None,
                answer: str | None = None, active: bool | None = None) -> dict[str, Any]:
    """Change the question, the answer or whether it is used (retire: active=False)."""
    with store.session() as session:
        row = session.get(VettedAnswer, answer_id)
        if row is None:
            raise NotFound(f"no vetted answer {answer_id!r}")
        row.question, row.answer = _checked(question if question is not None else row.question,
                                            answer if answer is not None else row.answer)
        if active is not None:
            row.active = active
        row.updated_at = row.edited_at = utcnow()
        session.flush()
        return _as_dict(row)


def get_vetted(store: Store, answer_id: str) -> dict[str, Any]:
    with store.session() as session:
        row = session.get(VettedAnswer, answer_id)
        if row is None:
            raise NotFound(f"no vetted answer {answer_id!r}")
        return _as_dict(row)


def _checked(question: str, answer: str) -> tuple[str, str]:
    question, answer = (question or "").strip(), (answer or "").strip()
    if len(question) < 3:
        raise InvalidInput("a vetted answer needs the question it answers (3 characters or more)")
    if not answer:
        raise InvalidInput("a vetted answer needs its answer text")
    if len(question) > MAX_QUESTION or len(answer) > MAX_ANSWER:
        raise InvalidInput(f"keep the question under {MAX_QUESTION} and the answer under "
                           f"{MAX_ANSWER} characters")
    return question, answer


def _as_dict(row: VettedAnswer) -> dict[str, Any]:
    return {"id": row.id, "question": row.question, "answer": row.answer,
            "tags": list(row.tags or []), "active": row.active, "origin": row.origin,
            "created_at": row.created_at.isoformat() if row.created_at else None,
            "updated_at": row.updated_at.isoformat() if row.updated_at else None,
            "edited": row.edited_at is not None}
