"""campaign_rows: one idempotent row per (campaign, customer, template version); campaigns.spec

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(sa.Column("spec", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("spec_hash", sa.String(64), nullable=True))
    op.create_table(
        "campaign_rows",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("campaign_id", sa.String(64), sa.ForeignKey("campaigns.id"), nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("template_version", sa.String(100), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("output", sa.JSON(), nullable=True),
        sa.Column("source", sa.String(16), nullable=True),
        sa.Column("tokens", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("campaign_id", "customer_id", "template_version",
                            name="uq_campaign_rows_key"),
    )
    op.create_index("ix_campaign_rows_campaign_state", "campaign_rows", ["campaign_id", "state"])


def downgrade() -> None:
    op.drop_index("ix_campaign_rows_campaign_state", "campaign_rows")
    op.drop_table("campaign_rows")
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("spec_hash")
        batch.drop_column("spec")
