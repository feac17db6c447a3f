"""customer value: predicted scores per customer, personal coupons and their uses, the arms of
each campaign's offer (offer, no offer, control group), and the code an order carried

Revision ID: 0012
Revises: 0011
"""
import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customer_scores",
        sa.Column("customer_id", sa.String(64), primary_key=True),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("horizon_days", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(32), nullable=False),
        sa.Column("p_purchase", sa.Float(), nullable=False),
        sa.Column("expected_orders", sa.Float(), nullable=False),
        sa.Column("expected_spend", sa.Float(), nullable=False),
        sa.Column("churn_risk", sa.Float()),
        sa.Column("next_order_date", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "coupons",
        sa.Column("code", sa.String(32), primary_key=True),
        sa.Column("campaign_id", sa.String(64), sa.ForeignKey("campaigns.id"), nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("redeemed_at", sa.DateTime(timezone=True)),
        sa.Column("order_id", sa.String(64)),
        sa.Column("revenue", sa.Float(), nullable=False),
        sa.Column("discount_cost", sa.Float(), nullable=False),
    )
    op.create_index("ix_coupons_customer_id", "coupons", ["customer_id"])
    op.create_index("ix_coupons_campaign_customer", "coupons", ["campaign_id", "customer_id"],
                    unique=True)
    op.create_table(
        "coupon_uses",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("order_id", sa.String(64), nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
    )
    op.create_index("ix_coupon_uses_code", "coupon_uses", ["code"])
    op.create_index("ix_coupon_uses_code_order", "coupon_uses", ["code", "order_id"],
                    unique=True)
    op.create_table(
        "offer_arms",
        sa.Column("campaign_id", sa.String(64), sa.ForeignKey("campaigns.id"),
                  primary_key=True),
        sa.Column("customer_id", sa.String(64), primary_key=True),
        sa.Column("arm", sa.String(16), nullable=False),
        sa.Column("propensity", sa.Float(), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("coupon_code", sa.String(32)))


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("coupon_code")
    op.drop_table("offer_arms")
    op.drop_index("ix_coupon_uses_code_order", "coupon_uses")
    op.drop_index("ix_coupon_uses_code", "coupon_uses")
    op.drop_table("coupon_uses")
    op.drop_index("ix_coupons_campaign_customer", "coupons")
    op.drop_index("ix_coupons_customer_id", "coupons")
    op.drop_table("coupons")
    op.drop_table("customer_scores")
