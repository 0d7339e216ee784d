"""The inbox: ``inbox_conversations`` (read, taken over, answered per contact). A new table: existing conversations
start as never opened (their customer messages unread), and a handoff asked for before still needs a person.

Revision ID: c22_inbox
Revises: c22_ws
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c22_inbox"
down_revision: str | Sequence[str] | None = "c19_meta_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inbox_conversations",
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("read_through", sa.Integer(), nullable=True),
        sa.Column("taken_over_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("taken_over_by", sa.String(length=254), nullable=True),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_inbox_conversations_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("contact_id", name=op.f("pk_inbox_conversations")),
    )


def downgrade() -> None:
    op.drop_table("inbox_conversations")
