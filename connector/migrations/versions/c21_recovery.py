"""Checkout recovery: the checkouts and unpaid orders the connector reminds customers of, and what came of it.

A new table; nothing existing changes.

Revision ID: c21_recovery
Revises: b_obs
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c21_recovery"
down_revision: str | Sequence[str] | None = "c22_inbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "recovery_checkouts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_connection_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("total", sa.String(length=32), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("recovery_url", sa.Text(), nullable=True),
        sa.Column("reminders_sent", sa.Integer(), nullable=False),
        sa.Column("next_reminder_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_message_id", sa.Integer(), nullable=True),
        sa.Column("checkout_updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recovered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recovered_revenue", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["shop_connection_id"], ["shop_connections.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("shop_connection_id", "source", "external_id"),
    )
    op.create_index("ix_recovery_checkouts_due", "recovery_checkouts", ["state", "next_reminder_at"])
    op.create_index("ix_recovery_checkouts_contact", "recovery_checkouts", ["contact_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_recovery_checkouts_contact", table_name="recovery_checkouts")
    op.drop_index("ix_recovery_checkouts_due", table_name="recovery_checkouts")
    op.drop_table("recovery_checkouts")
