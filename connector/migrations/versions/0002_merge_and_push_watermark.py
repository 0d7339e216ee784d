"""Merge the subsystem branches; add the push watermark that keeps incremental syncs cheap.

Revision ID: 0002
Revises: notify_0001, conversation_0001, dashboard_0001, cluster_0001
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = ("notify_0001", "conversation_0001", "dashboard_0001", "cluster_0001")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("shop_connections", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pushed_through", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("shop_variants", schema=None) as batch_op:
        batch_op.create_index("ix_shop_variants_changed", ["shop_connection_id", "updated_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("shop_variants", schema=None) as batch_op:
        batch_op.drop_index("ix_shop_variants_changed")
    with op.batch_alter_table("shop_connections", schema=None) as batch_op:
        batch_op.drop_column("pushed_through")
