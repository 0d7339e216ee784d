"""Status webhooks find their outbox row by connection and message id with one index.

With the message id alone in the index, SQLite's planner (which has no statistics until ``ANALYZE``) picked the
``(channel_connection_id, sent_at)`` index instead and scanned every message of the connection: milliseconds per
status in a 100,000-message fan-out.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbound_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_outbound_messages_channel_message")
        batch_op.create_index(
            "ix_outbound_messages_channel_message", ["channel_connection_id", "channel_message_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("outbound_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_outbound_messages_channel_message")
        batch_op.create_index("ix_outbound_messages_channel_message", ["channel_message_id"], unique=False)
