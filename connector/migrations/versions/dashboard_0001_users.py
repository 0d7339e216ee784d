"""dashboard users and login attempts

Revision ID: dashboard_0001
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "dashboard_0001"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dashboard_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dashboard_users")),
        sa.UniqueConstraint("email", name=op.f("uq_dashboard_users_email")),
    )
    op.create_table(
        "dashboard_login_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dashboard_login_attempts")),
    )
    op.create_index(
        "ix_dashboard_login_attempts_client", "dashboard_login_attempts", ["client", "attempted_at"], unique=False
    )
    op.create_index(
        "ix_dashboard_login_attempts_email", "dashboard_login_attempts", ["email", "attempted_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_dashboard_login_attempts_email", table_name="dashboard_login_attempts")
    op.drop_index("ix_dashboard_login_attempts_client", table_name="dashboard_login_attempts")
    op.drop_table("dashboard_login_attempts")
    op.drop_table("dashboard_users")
