"""API tokens restricted to one shop connection: ``api_tokens.shop_connection_id``.

Revision ID: b_tokshop
Revises: h15_burst
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b_tokshop"
down_revision: str | Sequence[str] | None = "h15_burst"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("shop_connection_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_api_tokens_shop_connection_id_shop_connections",
            "shop_connections",
            ["shop_connection_id"],
            ["id"],
            ondelete="CASCADE",
        )


def downgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_constraint("fk_api_tokens_shop_connection_id_shop_connections", type_="foreignkey")
        batch_op.drop_column("shop_connection_id")
