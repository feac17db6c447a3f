"""Dialect-aware bulk upsert (SQLite and PostgreSQL share the ON CONFLICT syntax).

One statement, compiled once, executed for every row (the driver's executemany; SQLAlchemy
batches it): rendering thousands of rows into one VALUES clause spent most of an ingest
compiling SQL. The databases differ at one edge, hidden here: PostgreSQL refuses an
ON CONFLICT DO UPDATE that meets the same key twice in one batch ("cannot affect row a second
time") where SQLite applies the rows in order, so rows are deduplicated by key first, the last
one winning, as SQLite would have it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session


def upsert(session: Session, table, rows: list[dict[str, Any]], keys: list[str],
           update: bool = True) -> None:
    """Insert `rows` (dicts with the same keys) into `table` (a Table or a mapped class); a row
    whose `keys` exist already updates the stored one (`update`) or is skipped."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    elif dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        raise NotImplementedError(f"upsert is not implemented for {dialect}")
    table = getattr(table, "__table__", table)  # Core executemany, not the ORM bulk path
    columns = [name for name in rows[0] if name not in keys]
    statement = insert(table)
    if update and columns:
        rows = list({tuple(row[key] for key in keys): row for row in rows}.values())
        statement = statement.on_conflict_do_update(
            index_elements=keys, set_={name: statement.excluded[name] for name in columns}
        )
    else:
        statement = statement.on_conflict_do_nothing(index_elements=keys)
    session.execute(statement, rows)


def existing_ids(session: Session, table, ids: set[str]) -> set[str]:
    """Which of `ids` the mapped class `table` holds (looked up 900 at a time: SQLite's limit
    on bound parameters)."""
    found: set[str] = set()
    listed = sorted(ids)
    for start in range(0, len(listed), 900):
        chunk = listed[start:start + 900]
        found.update(session.scalars(select(table.id).where(table.id.in_(chunk))))
    return found
