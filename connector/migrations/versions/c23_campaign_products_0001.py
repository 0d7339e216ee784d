"""Campaigns that feature products: ``campaigns.products``, the catalog retailer ids shown as the cards of a
product-card carousel template (empty for every existing campaign: they send their template as before).

Revision ID: c23_campaign_products_0001
Revises: c21_campaigns_0001
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c23_campaign_products_0001"
down_revision: str | Sequence[str] | None = "c21_campaigns_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(sa.Column("products", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("products")
