"""Engine and sessions for the SQL store; schema is created and upgraded by Alembic."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy import exc as sql_errors
from sqlalchemy.orm import Session, sessionmaker

from shop.errors import Busy
from shop.settings import Settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# what SQLite and PostgreSQL say when another transaction holds what this one needs
_LOCKED = re.compile(r"database (?:table )?is (?:locked|busy)|lock timeout|could not obtain lock"
                     r"|deadlock detected|could not serialize access", re.IGNORECASE)
BUSY_RETRY_S = 2


class StoreBusy(Busy):
    """The store cannot serve this now (locked by another writer, no free connection, the
    connection lost); the same request can succeed a moment later."""


def as_busy(error: BaseException) -> StoreBusy | None:
    """A database failure that waiting cures, as StoreBusy; None for any other error (a fault
    to see in the logs, not to retry)."""
    if isinstance(error, sql_errors.TimeoutError):  # the pool had no connection to lend in time
        return StoreBusy(f"the store has no free connection right now; retry in {BUSY_RETRY_S} s",
                         BUSY_RETRY_S)
    if isinstance(error, sql_errors.DBAPIError) and error.connection_invalidated:
        return StoreBusy(f"the connection to the store was lost; retry in {BUSY_RETRY_S} s",
                         BUSY_RETRY_S)
    if isinstance(error, sql_errors.OperationalError) and _LOCKED.search(str(error.orig)):
        return StoreBusy(f"the store is busy (another writer holds a lock); retry in "
                         f"{BUSY_RETRY_S} s", BUSY_RETRY_S)
    return None


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


@lru_cache(maxsize=8)
def get_engine(url: str) -> Engine:
    """One engine per database URL per process."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_pre_ping=True)
    return engine


def upgrade(settings: Settings, revision: str = "head") -> Engine:
    """Create or migrate the schema to `revision` (the newest by default); return the engine."""
    from alembic import command
    from alembic.config import Config

    settings.ensure_dirs()
    engine = get_engine(settings.db_url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", settings.db_url.replace("%", "%%"))
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)
    return engine


class Store:
    """The handle every service takes: the engine plus a session factory."""

    def __init__(self, settings: Settings, migrate: bool = True):
        self.settings = settings
        self.engine = upgrade(settings) if migrate else get_engine(settings.db_url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on any error."""
        with self._sessions() as session, session.begin():
            yield session

    def ping(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
