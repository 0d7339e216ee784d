"""Coalesce waiting tasks: ``tasks.coalesce_key`` and its index (one pending targeted sync per shop).

Revision ID: h15_burst
Revises: h15_listener
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "h15_burst"
down_revision: str | Sequence[str] | None = "h15_listener"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("coalesce_key", sa.String(length=255), nullable=True))
        batch_op.create_index("ix_tasks_coalesce", ["coalesce_key", "status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_tasks_coalesce")
        batch_op.drop_column("coalesce_key")
