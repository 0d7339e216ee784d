"""Approval-flow onboarding: one-time install states, and a note on shop connections saying why the platform changed
their state (app uninstalled, deactivated).

Existing connections keep their rows; the note starts empty.

Revision ID: c19_onb_install_states
Revises: b_obs
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c19_onb_install_states"
down_revision: str | Sequence[str] | None = "c16_pricing_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "install_states",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("state", sa.String(100), nullable=False, unique=True),
        sa.Column("platform", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("data", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
    )
    # In place (ALTER TABLE ... ADD COLUMN): a batch copy of shop_connections would cascade-delete its channels on SQLite.
    op.add_column("shop_connections", sa.Column("status_note", sa.String(300), nullable=True))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # In place (SQLite >= 3.35): a batch copy of the table would cascade-delete every channel of every shop.
        op.execute("ALTER TABLE shop_connections DROP COLUMN status_note")
    else:
        op.drop_column("shop_connections", "status_note")
    op.drop_table("install_states")
