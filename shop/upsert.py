"""Dialect-aware bulk upsert (SQLite and PostgreSQL share the ON CONFLICT syntax)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session


def upsert(session: Session, table, rows: list[dict[str, Any]], keys: list[str],
           update: bool = True) -> None:
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    elif dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        raise NotImplementedError(f"upsert is not implemented for {dialect}")
    statement = insert(table).values(rows)
    if update:
        columns = [name for name in rows[0] if name not in keys]
        statement = statement.on_conflict_do_update(
            index_elements=keys, set_={name: statement.excluded[name] for name in columns}
        )
    else:
        statement = statement.on_conflict_do_nothing(index_elements=keys)
    session.execute(statement)
