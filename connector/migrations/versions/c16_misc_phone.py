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
down_revision: str | Sequence[str] | None = "b_obs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("contacts") as batch:
        batch.add_column(sa.Column("phone_problem", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("contacts") as batch:
        batch.drop_column("phone_problem")
