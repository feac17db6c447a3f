"""vetted_answers and chat_outcomes: the shop's own answers (from its support history or
written in the studio), and how each chat answer ended with the shopper's verdict on it

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vetted_answers",
        sa.Column("id", sa.String(80), primary_key=True),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("edited_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_vetted_answers_active", "vetted_answers", ["active"])
    op.create_table(
        "chat_outcomes",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("session_hash", sa.String(64), nullable=False),
        sa.Column("turn_id", sa.Integer()),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("handoff_reason", sa.String(40), nullable=False),
        sa.Column("vetted_id", sa.String(80)),
        sa.Column("helpful", sa.Boolean()),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("feedback_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_chat_outcomes_session_hash", "chat_outcomes", ["session_hash"])
    op.create_index("ix_chat_outcomes_turn_id", "chat_outcomes", ["turn_id"])
    op.create_index("ix_chat_outcomes_at", "chat_outcomes", ["at"])


def downgrade() -> None:
    op.drop_index("ix_chat_outcomes_at", "chat_outcomes")
    op.drop_index("ix_chat_outcomes_turn_id", "chat_outcomes")
    op.drop_index("ix_chat_outcomes_session_hash", "chat_outcomes")
    op.drop_table("chat_outcomes")
    op.drop_index("ix_vetted_answers_active", "vetted_answers")
    op.drop_table("vetted_answers")
