"""experiments, their variants, assignments (with propensities) and feedback; trigger firings
and the stock watch of the "back in stock" trigger

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "experiments",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("policy", sa.String(16), nullable=False),
        sa.Column("control", sa.String(32), nullable=False),
        sa.Column("per_segment", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("winner", sa.String(32), nullable=True),
        sa.Column("decided_by", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "experiment_variants",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("experiment_id", sa.Integer(), sa.ForeignKey("experiments.id"),
                  nullable=False),
        sa.Column("key", sa.String(32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("content_id", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.UniqueConstraint("experiment_id", "key", name="uq_experiment_variant"),
    )
    op.create_table(
        "experiment_assignments",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("experiment_id", sa.Integer(), sa.ForeignKey("experiments.id"),
                  nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("variant", sa.String(32), nullable=False),
        sa.Column("propensity", sa.Float(), nullable=False),
        sa.Column("segment", sa.String(32), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("experiment_id", "customer_id", name="uq_assignment_customer"),
    )
    op.create_index("ix_assignments_experiment_ts", "experiment_assignments",
                    ["experiment_id", "ts"])
    op.create_index("ix_experiment_assignments_customer_id", "experiment_assignments",
                    ["customer_id"])
    op.create_table(
        "experiment_feedback",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("experiment_id", sa.Integer(), sa.ForeignKey("experiments.id"),
                  nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("variant", sa.String(32), nullable=False),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("segment", sa.String(32), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("experiment_id", "customer_id", "variant", "event",
                            name="uq_feedback_key"),
    )
    op.create_index("ix_feedback_experiment_variant", "experiment_feedback",
                    ["experiment_id", "variant", "event"])
    op.create_index("ix_experiment_feedback_customer_id", "experiment_feedback",
                    ["customer_id"])
    op.create_table(
        "trigger_firings",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("campaign_id", sa.String(64), nullable=True),
        sa.Column("product_ids", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("rule", "customer_id", "fired_at", name="uq_trigger_firing"),
    )
    op.create_index("ix_trigger_firings_customer_id", "trigger_firings", ["customer_id"])
    op.create_index("ix_trigger_firings_campaign_id", "trigger_firings", ["campaign_id"])
    op.create_table(
        "stock_watch",
        sa.Column("product_id", sa.String(64), primary_key=True),
        sa.Column("out_since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("restocked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_stock_watch_restocked_at", "stock_watch", ["restocked_at"])


def downgrade() -> None:
    op.drop_index("ix_stock_watch_restocked_at", "stock_watch")
    op.drop_table("stock_watch")
    op.drop_index("ix_trigger_firings_campaign_id", "trigger_firings")
    op.drop_index("ix_trigger_firings_customer_id", "trigger_firings")
    op.drop_table("trigger_firings")
    op.drop_index("ix_experiment_feedback_customer_id", "experiment_feedback")
    op.drop_index("ix_feedback_experiment_variant", "experiment_feedback")
    op.drop_table("experiment_feedback")
    op.drop_index("ix_experiment_assignments_customer_id", "experiment_assignments")
    op.drop_index("ix_assignments_experiment_ts", "experiment_assignments")
    op.drop_table("experiment_assignments")
    op.drop_table("experiment_variants")
    op.drop_table("experiments")
