"""API keys with scopes, and the chat sessions widget keys act within.

A key is `sw_<scope>_<43 random url-safe characters>` (256 bits). The store keeps its SHA-256
and its first characters (`prefix`), never the key: a stolen database gives no working key.
A fast hash is enough because the secret is random, not a password a person chose.

Scopes:
- `widget`: safe in a public web page. Chat, chat completions and search; recommendations and
  events only of its own chat session's customer; cross-origin calls only from its `origins`.
- `admin`: everything.

`SHOPWRIGHT_ADMIN_KEY` stays valid as a bootstrap admin key (`Caller.key_id` None).

Chat sessions, which a widget key's reach is bounded by, are in shop/sessions.py.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import select

from shop.errors import InvalidInput, NotFound
from shop.schema import KEY_SCOPES, ApiKey, utcnow
from shop.settings import Settings
from shop.store import Store

Scope = Literal["widget", "admin"]
PREFIX_CHARS = 12  # "sw_widget_Ab" - enough to tell keys apart in a list


@dataclass(frozen=True)
class Caller:
    """Who sent a request: a scope, the key's id and name, and where a widget key may run."""

    scope: Scope | None = None  # None: no key at all (public routes only)
    key_id: int | None = None  # None for the bootstrap admin key and for no key
    name: str = "anonymous"
    origins: tuple[str, ...] = field(default=())

    @property
    def is_admin(self) -> bool:
        return self.scope == "admin"

    @property
    def actor(self) -> str:
        """How audit rows name this caller (never the key itself)."""
        return f"key:{self.key_id}:{self.name}" if self.key_id else self.name


BOOTSTRAP_ADMIN = Caller(scope="admin", name="admin-key")


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(store: Store, scope: str, name: str = "",
               origins: list[str] | None = None) -> tuple[dict, str]:
    """A new key: (its row as a dict, the key). The key is shown once; only its hash is kept."""
    if scope not in KEY_SCOPES:
        raise InvalidInput(f"unknown scope {scope!r}; one of {', '.join(KEY_SCOPES)}")
    origins = [_origin(o) for o in origins or []]
    if origins and scope != "widget":
        raise InvalidInput("--origin applies to widget keys only (admin keys are not for "
                           "browsers)")
    secret = f"sw_{scope}_{secrets.token_urlsafe(32)}"
    with store.session() as session:
        row = ApiKey(name=name or f"{scope} key", scope=scope, prefix=secret[:PREFIX_CHARS],
                     secret_hash=digest(secret), origins=origins)
        session.add(row)
        session.flush()
        return _as_dict(row), secret


def list_keys(store: Store, include_revoked: bool = False) -> list[dict]:
    with store.session() as session:
        query = select(ApiKey).order_by(ApiKey.id)
        if not include_revoked:
            query = query.where(ApiKey.revoked_at.is_(None))
        return [_as_dict(row) for row in session.scalars(query)]


def revoke_key(store: Store, key_id: int) -> dict:
    """Revoke at once (the next request with it gets 401). Unknown id: NotFound."""
    with store.session() as session:
        row = session.get(ApiKey, key_id)
        if row is None:
            raise NotFound(f"no API key with id {key_id}; see `shopwright keys list`")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
        return _as_dict(row)


def authenticate(store: Store, settings: Settings, secret: str) -> Caller | None:
    """The caller a bearer token stands for, or None when it is no valid key."""
    bootstrap = settings.admin_key.get_secret_value()
    if hmac.compare_digest(secret.encode(), bootstrap.encode()):
        return BOOTSTRAP_ADMIN
    with store.session() as session:
        row = session.scalars(select(ApiKey).where(ApiKey.secret_hash == digest(secret),
                                                   ApiKey.revoked_at.is_(None))).first()
        return _caller(row) if row is not None else None


def active_caller(store: Store, key_id: int) -> Caller | None:
    """The caller of an active key known by its id (a studio login names its key), or None
    once the key is revoked."""
    with store.session() as session:
        row = session.scalars(select(ApiKey).where(ApiKey.id == key_id,
                                                   ApiKey.revoked_at.is_(None))).first()
        return _caller(row) if row is not None else None


def _caller(row: ApiKey) -> Caller:
    return Caller(scope=row.scope, key_id=row.id, name=row.name,  # type: ignore[arg-type]
                  origins=tuple(row.origins or ()))


def widget_origins(store: Store) -> set[str]:
    """Every origin some active widget key may be used from (for CORS preflights)."""
    with store.session() as session:
        rows = session.scalars(select(ApiKey.origins).where(ApiKey.scope == "widget",
                                                           ApiKey.revoked_at.is_(None)))
        return {origin for origins in rows for origin in origins or ()}


def _origin(value: str) -> str:
    value = value.strip().rstrip("/")
    scheme, sep, host = value.partition("://")
    if not sep or scheme not in ("http", "https") or not host or "/" in host:
        raise InvalidInput(f"origin {value!r} must look like https://shop.example "
                           "(scheme and host, no path)")
    return value


def _as_dict(row: ApiKey) -> dict:
    return {"id": row.id, "name": row.name, "scope": row.scope, "prefix": row.prefix,
            "origins": list(row.origins or []),
            "created_at": row.created_at.isoformat() if row.created_at else None,
            "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None}
