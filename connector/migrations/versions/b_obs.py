"""Process heartbeats for ``/readyz``: ``process_heartbeats`` (workers and the leading scheduler).

Revision ID: b_obs
Revises: b_tokshop
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b_obs"
down_revision: str | Sequence[str] | None = "b_tokshop"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "process_heartbeats",
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("beat_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_process_heartbeats")),
    )
    op.create_index("ix_process_heartbeats_role_beat", "process_heartbeats", ["role", "beat_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_process_heartbeats_role_beat", table_name="process_heartbeats")
    op.drop_table("process_heartbeats")
