"""Dashboard hardening: per-user session versions, an atomic login throttle, one-time first-user setup links.

Revision ID: h15_auth
Revises: h15_consent
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "h15_auth"
down_revision: str | Sequence[str] | None = "h15_consent"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("dashboard_users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_version", sa.Integer(), server_default="1", nullable=False))
    op.create_table(
        "dashboard_login_throttle",
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("blocked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_dashboard_login_throttle")),
    )
    op.create_table(
        "dashboard_setup_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_dashboard_setup_tokens")),
    )


def downgrade() -> None:
    op.drop_table("dashboard_setup_tokens")
    op.drop_table("dashboard_login_throttle")
    with op.batch_alter_table("dashboard_users", schema=None) as batch_op:
        batch_op.drop_column("session_version")
