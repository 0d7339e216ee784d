"""Contacts whose phone number, as typed into a shop order, cannot be read as a number: why (``phone_problem``).

Existing contacts came from WhatsApp ``wa_id`` values or international numbers and stay usable (NULL).

Revision ID: c16_misc_phone
Revises: b_obs
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c16_misc_phone"
down_revision: str | Sequence[str] | None = "c16_signals_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN on every database: copying ``contacts`` (batch mode) would cascade-delete the rows that
    # reference it on SQLite, where foreign keys are on.
    op.add_column("contacts", sa.Column("phone_problem", sa.Text(), nullable=True))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # SQLite 3.35+ drops a column in place; the batch copy would cascade-delete messages and consent rows.
        op.execute("ALTER TABLE contacts DROP COLUMN phone_problem")
    else:
        op.drop_column("contacts", "phone_problem")
