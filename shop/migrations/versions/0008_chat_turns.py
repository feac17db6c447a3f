"""chat_turns: a row per chat turn instead of chat_sessions.turns, a JSON list that each request
read, extended and wrote back (concurrent requests of one session kept only one writer's turns)

Revision ID: 0008
Revises: 0007

The stored turns move into rows, in their order. The column is dropped before chat_turns exists:
on SQLite dropping it rebuilds chat_sessions, and dropping a table that chat_turns referenced
would cascade into the turns just copied.
"""
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

SESSIONS = sa.table("chat_sessions", sa.column("id_hash", sa.String), sa.column("turns", sa.JSON),
                    sa.column("created_at", sa.DateTime(timezone=True)))
TURNS = sa.table("chat_turns", sa.column("id", sa.Integer), sa.column("session_hash", sa.String),
                 sa.column("role", sa.String), sa.column("content", sa.Text),
                 sa.column("extra", sa.JSON), sa.column("created_at", sa.DateTime(timezone=True)))


def upgrade() -> None:
    connection = op.get_bind()
    stored = connection.execute(sa.select(SESSIONS.c.id_hash, SESSIONS.c.turns,
                                          SESSIONS.c.created_at)).all()
    with op.batch_alter_table("chat_sessions") as batch:
        batch.drop_column("turns")
    op.create_table(
        "chat_turns",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("session_hash", sa.String(64),
                  sa.ForeignKey("chat_sessions.id_hash", ondelete="CASCADE"), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_chat_turns_session", "chat_turns", ["session_hash", "id"])
    rows = [{"session_hash": id_hash, "role": str(turn.get("role", ""))[:16],
             "content": str(turn.get("content") or ""),
             "extra": {k: v for k, v in turn.items() if k not in ("role", "content")},
             "created_at": _when(turn.get("at"), created_at)}
            for id_hash, turns, created_at in stored
            for turn in (turns or []) if isinstance(turn, dict)]
    if rows:
        connection.execute(TURNS.insert(), rows)


def downgrade() -> None:
    connection = op.get_bind()
    turns: dict[str, list] = {}
    for id_hash, role, content, extra in connection.execute(
            sa.select(TURNS.c.session_hash, TURNS.c.role, TURNS.c.content, TURNS.c.extra)
            .order_by(TURNS.c.id)):
        turns.setdefault(id_hash, []).append({"role": role, "content": content, **(extra or {})})
    op.drop_index("ix_chat_turns_session", "chat_turns")
    op.drop_table("chat_turns")
    with op.batch_alter_table("chat_sessions") as batch:
        batch.add_column(sa.Column("turns", sa.JSON(), nullable=False, server_default="[]"))
    for id_hash, kept in turns.items():
        connection.execute(SESSIONS.update().where(SESSIONS.c.id_hash == id_hash)
                           .values(turns=kept))


def _when(at, fallback: datetime) -> datetime:
    """The turn's own `at` (ISO text, as the chat stored it), else the session's creation."""
    try:
        return datetime.fromisoformat(at)
    except (TypeError, ValueError):
        return fallback
