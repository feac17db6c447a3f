"""Chat sessions: a shopper's conversation kept on the server, and the bound of a widget key.

A session id is a random bearer secret (the store keeps its SHA-256, like keys). It binds a
conversation to a customer, or to nobody for an anonymous shopper:
- an admin key (the shop's server, which knows who is logged in) may bind any customer;
- a widget key, or no key, only opens anonymous sessions, so a page cannot claim to be someone.

The turns are stored as the chat sends them back (the shopper's words with personal data
redacted, the assistant's answer with its citations, products and handoff flag), at most
`MAX_TURNS`, so a reload or another device shows the same conversation until it expires.
Each turn is a row (`chat_turns`), inserted, never rewritten: two requests of one session at
once both keep their turns, on SQLite (where a row lock does nothing) as on PostgreSQL.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shop.errors import Forbidden, NotFound
from shop.keys import Caller, digest
from shop.schema import ChatSession, ChatTurn, Customer, aware, utcnow
from shop.store import Store

MAX_TURNS = 40  # kept per session (the chat reads the last few as history)


def create_session(store: Store, caller: Caller, ttl: timedelta,
                   customer_id: str | None = None) -> dict:
    """A new session; returns its id (shown once), customer and expiry."""
    if customer_id is not None and not caller.is_admin:
        raise Forbidden("only an admin key may bind a session to a customer (the shop's "
                        "server knows who is logged in; a web page could claim anyone)")
    session_id = secrets.token_urlsafe(24)
    expires_at = utcnow() + ttl
    with store.session() as session:
        if customer_id is not None and session.get(Customer, customer_id) is None:
            raise NotFound(f"no customer {customer_id!r}")
        session.add(ChatSession(id_hash=digest(session_id), key_id=caller.key_id,
                                customer_id=customer_id, expires_at=expires_at))
    return {"session_id": session_id, "customer_id": customer_id,
            "expires_at": expires_at.isoformat()}


def load_session(store: Store, session_id: str) -> dict | None:
    """The live session (customer, turns, handoff, expiry), or None if unknown or expired."""
    if not session_id:
        return None
    with store.session() as session:
        row = session.get(ChatSession, digest(session_id))
        if row is None or aware(row.expires_at) <= datetime.now(UTC):
            return None
        return {"session_id": session_id, "customer_id": row.customer_id,
                "turns": session_turns(session, row.id_hash), "handoff": row.handoff,
                "expires_at": aware(row.expires_at).isoformat()}


def session_customer(store: Store, session_id: str) -> tuple[bool, str | None]:
    """(whether the session exists and has not expired, its customer or None)."""
    found = load_session(store, session_id)
    return (found is not None, found["customer_id"] if found else None)


def add_turns(store: Store, session_id: str, *turns: dict[str, Any]) -> list[int]:
    """Append turns (keeping the last MAX_TURNS); a handoff turn flags the session. Returns
    the new turns' ids (none when the session was erased meanwhile)."""
    id_hash = digest(session_id)
    try:
        with store.session() as session:
            if session.get(ChatSession, id_hash) is None:
                return []  # erased meanwhile (GDPR): nothing to keep
            rows = [ChatTurn(session_hash=id_hash, role=turn.get("role", ""),
                             content=turn.get("content") or "",
                             extra={k: v for k, v in turn.items()
                                    if k not in ("role", "content")}) for turn in turns]
            session.add_all(rows)
            if any(turn.get("handoff") for turn in turns):
                session.execute(update(ChatSession).where(ChatSession.id_hash == id_hash)
                                .values(handoff=True))
            session.flush()
            session.execute(delete(ChatTurn).where(ChatTurn.session_hash == id_hash,
                                                   ChatTurn.id < _oldest_kept(id_hash)))
            return [row.id for row in rows]
    except IntegrityError:
        return []  # erased between the look-up and the insert: the turns' session is gone


def session_turns(session: Session, id_hash: str) -> list[dict[str, Any]]:
    """A session's last MAX_TURNS turns, oldest first, as they were added."""
    rows = session.scalars(select(ChatTurn).where(ChatTurn.session_hash == id_hash)
                           .order_by(ChatTurn.id.desc()).limit(MAX_TURNS)).all()
    return [{"role": row.role, "content": row.content, **(row.extra or {})}
            for row in reversed(rows)]


def _oldest_kept(id_hash: str):
    """The id of the session's MAX_TURNS-th newest turn (NULL, so nothing older, with fewer)."""
    return (select(ChatTurn.id).where(ChatTurn.session_hash == id_hash)
            .order_by(ChatTurn.id.desc()).offset(MAX_TURNS - 1).limit(1).scalar_subquery())


def hand_off(store: Store, session_id: str) -> None:
    """Flag the session for the shop's team; NotFound if it is unknown or expired."""
    if load_session(store, session_id) is None:
        raise NotFound("unknown or expired chat session; ask a question first")
    add_turns(store, session_id, {"role": "system", "content": "handed over to a person",
                                  "handoff": True, "at": utcnow().isoformat()})
