"""Workspaces: the ``workspaces`` table, its default workspace, and ``workspace_id`` on shop connections, dashboard
users and API tokens (with a ``role`` on users and tokens). Every existing row moves into the default workspace
(id 1, the operator's), and every existing user and token stays an owner: a single-shop install sees no difference.

Revision ID: c22_ws
Revises: b_obs
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c22_ws"
down_revision: str | Sequence[str] | None = "c16_inbound"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFAULT_WORKSPACE_ID = 1
#: (table, what deleting its workspace does to its rows, whether it has a role)
OWNED = (
    ("shop_connections", "RESTRICT", False),
    ("dashboard_users", "CASCADE", True),
    ("api_tokens", "CASCADE", True),
)


def upgrade() -> None:
    op.create_table(
        "workspaces",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("operator", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workspaces")),
        sa.UniqueConstraint("name", name=op.f("uq_workspaces_name")),
    )
    op.execute(
        sa.text(
            "INSERT INTO workspaces (id, name, operator, created_at) VALUES (:id, 'Default', :operator, CURRENT_TIMESTAMP)"
        ).bindparams(id=DEFAULT_WORKSPACE_ID, operator=True)
    )
    if op.get_bind().dialect.name == "postgresql":
        # The explicit id leaves the sequence behind: the next workspace would collide with it.
        op.execute("SELECT setval(pg_get_serial_sequence('workspaces', 'id'), (SELECT max(id) FROM workspaces))")
    for table, ondelete, has_role in OWNED:
        # Added with a server default, so every existing row lands in the default workspace; the default is then
        # dropped: a new row must name its workspace.
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column("workspace_id", sa.Integer(), nullable=False, server_default=str(DEFAULT_WORKSPACE_ID))
            )
            if has_role:
                batch_op.add_column(sa.Column("role", sa.String(length=16), server_default="owner", nullable=False))
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column("workspace_id", server_default=None, existing_type=sa.Integer(), nullable=False)
            batch_op.create_index(batch_op.f(f"ix_{table}_workspace_id"), ["workspace_id"], unique=False)
            batch_op.create_foreign_key(
                batch_op.f(f"fk_{table}_workspace_id_workspaces"),
                "workspaces",
                ["workspace_id"],
                ["id"],
                ondelete=ondelete,
            )


def downgrade() -> None:
    for table, _, has_role in reversed(OWNED):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(batch_op.f(f"fk_{table}_workspace_id_workspaces"), type_="foreignkey")
            batch_op.drop_index(batch_op.f(f"ix_{table}_workspace_id"))
            if has_role:
                batch_op.drop_column("role")
            batch_op.drop_column("workspace_id")
    op.drop_table("workspaces")
