"""Find a connection's latest webhooks with one index: (kind, connection, received_at).

The in-doubt rule for interrupted sends asks, per row and grace period, whether the channel delivered any webhook
since a moment ago. With only the ``received_at`` index and the (kind, connection, delivery id) unique index, the
planner either walks every recent webhook of every connection or every webhook this connection ever sent until
housekeeping prunes them.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_webhook_events_connection_received", ["connection_kind", "connection_id", "received_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("webhook_events", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_events_connection_received")
