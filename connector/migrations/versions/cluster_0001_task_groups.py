"""cluster: task groups for fair dispatch

Revision ID: cluster_0001
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "cluster_0001"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "task_groups",
        sa.Column("task_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("group_key", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("task_id", name=op.f("pk_task_groups")),
    )
    op.create_index("ix_task_groups_group_key", "task_groups", ["group_key"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_task_groups_group_key", table_name="task_groups")
    op.drop_table("task_groups")
