"""conversation tables: per-contact state, chat orders, handoffs

Revision ID: conversation_0001
Revises: 0001
Create Date: 2026-11-23 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "conversation_0001"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "conversation_states",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("flow", sa.String(length=32), nullable=True),
        sa.Column("step", sa.String(length=32), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("flow_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("address", sa.JSON(), nullable=True),
        sa.Column("verified_orders", sa.JSON(), nullable=False),
        sa.Column("last_inbound_id", sa.Integer(), nullable=True),
        sa.Column("silent_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_conversation_states_contact_id_contacts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation_states")),
        sa.UniqueConstraint("contact_id", name=op.f("uq_conversation_states_contact_id")),
    )
    op.create_table(
        "chat_handoffs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("channel_connection_id", sa.Integer(), nullable=False),
        sa.Column("inbound_message_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("silent_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("notify_status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["channel_connection_id"],
            ["channel_connections.id"],
            name=op.f("fk_chat_handoffs_channel_connection_id_channel_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_chat_handoffs_contact_id_contacts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["inbound_message_id"],
            ["inbound_messages.id"],
            name=op.f("fk_chat_handoffs_inbound_message_id_inbound_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_handoffs")),
        sa.UniqueConstraint("inbound_message_id", name=op.f("uq_chat_handoffs_inbound_message_id")),
    )
    op.create_index("ix_chat_handoffs_contact", "chat_handoffs", ["contact_id"], unique=False)
    op.create_table(
        "chat_orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("channel_connection_id", sa.Integer(), nullable=False),
        sa.Column("shop_connection_id", sa.Integer(), nullable=False),
        sa.Column("inbound_message_id", sa.Integer(), nullable=False),
        sa.Column("cart_hash", sa.String(length=64), nullable=False),
        sa.Column("reference", sa.String(length=128), nullable=False),
        sa.Column("cart", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("order_external_id", sa.String(length=255), nullable=True),
        sa.Column("order_number", sa.String(length=64), nullable=True),
        sa.Column("payment_url", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_connection_id"],
            ["channel_connections.id"],
            name=op.f("fk_chat_orders_channel_connection_id_channel_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_chat_orders_contact_id_contacts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["inbound_message_id"],
            ["inbound_messages.id"],
            name=op.f("fk_chat_orders_inbound_message_id_inbound_messages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["shop_connection_id"],
            ["shop_connections.id"],
            name=op.f("fk_chat_orders_shop_connection_id_shop_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_orders")),
        sa.UniqueConstraint("inbound_message_id", "cart_hash", name=op.f("uq_chat_orders_inbound_message_id_cart_hash")),
        sa.UniqueConstraint("reference", name=op.f("uq_chat_orders_reference")),
    )
    op.create_index("ix_chat_orders_contact", "chat_orders", ["contact_id", "created_at"], unique=False)
    op.create_table(
        "chat_replies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("inbound_message_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("channel_connection_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("recipient", sa.String(length=128), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("outbound_message_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_connection_id"],
            ["channel_connections.id"],
            name=op.f("fk_chat_replies_channel_connection_id_channel_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_chat_replies_contact_id_contacts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["inbound_message_id"],
            ["inbound_messages.id"],
            name=op.f("fk_chat_replies_inbound_message_id_inbound_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_replies")),
        sa.UniqueConstraint("inbound_message_id", "seq", name=op.f("uq_chat_replies_inbound_message_id_seq")),
    )


def downgrade() -> None:
    op.drop_table("chat_replies")
    op.drop_index("ix_chat_orders_contact", table_name="chat_orders")
    op.drop_table("chat_orders")
    op.drop_index("ix_chat_handoffs_contact", table_name="chat_handoffs")
    op.drop_table("chat_handoffs")
    op.drop_table("conversation_states")
