"""Embedded Signup and Facebook Login for Business: the ``state`` of each connect click, used once.

Revision ID: c19_meta_0001
Revises: c16_signals_0001
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c19_meta_0001"
# The head of this branch; the integrator re-chains revisions at merge time.
down_revision: str | Sequence[str] | None = "c22_ws"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "meta_signup_states",
        sa.Column("state", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("shop_connection_id", sa.Integer(), nullable=False),
        sa.Column("coexistence", sa.Boolean(), nullable=False),
        sa.Column("sandbox", sa.Boolean(), nullable=False),
        sa.Column("session_info", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["shop_connection_id"],
            ["shop_connections.id"],
            name=op.f("fk_meta_signup_states_shop_connection_id_shop_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("state", name=op.f("pk_meta_signup_states")),
    )


def downgrade() -> None:
    op.drop_table("meta_signup_states")
