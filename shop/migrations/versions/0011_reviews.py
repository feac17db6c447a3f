"""reviews: customers' ratings and words about products, for the recommender (ratings as
feedback) and per-product aspect sentiment (fit, size, quality, delivery ...)

Revision ID: 0011
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reviews",
        sa.Column("id", sa.String(80), primary_key=True),
        sa.Column("customer_id", sa.String(64), sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("product_id", sa.String(64), sa.ForeignKey("products.id"), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_reviews_customer_id", "reviews", ["customer_id"])
    op.create_index("ix_reviews_product_created", "reviews", ["product_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_reviews_product_created", "reviews")
    op.drop_index("ix_reviews_customer_id", "reviews")
    op.drop_table("reviews")
