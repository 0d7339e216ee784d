"""notifications: consent, back-in-stock subscriptions, order ledger, outbox timeline, rate-limit buckets

Revision ID: notify_0001
Revises: 0001
Create Date: 2026-11-23 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "notify_0001"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _outbox_columns() -> list[sa.Column]:
    return [
        sa.Column("purpose", sa.String(length=16), nullable=True),
        sa.Column("notification", sa.JSON(), nullable=True),
        sa.Column("category", sa.String(length=32), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("cost", sa.Float(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("outside_window", sa.Boolean(), nullable=True),
        sa.Column("deferred_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
    ]


def upgrade() -> None:
    with op.batch_alter_table("outbound_messages", schema=None) as batch_op:
        for column in _outbox_columns():
            batch_op.add_column(column)
        batch_op.create_index("ix_outbound_messages_sent", ["channel_connection_id", "sent_at"], unique=False)
        batch_op.create_index(
            "ix_outbound_messages_recipient", ["channel_connection_id", "recipient", "status"], unique=False
        )

    op.create_table(
        "notify_consents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_notify_consents_contact_id_contacts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notify_consents")),
        sa.UniqueConstraint("contact_id", "purpose", name=op.f("uq_notify_consents_contact_id_purpose")),
    )
    op.create_table(
        "notify_consent_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_notify_consent_events_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notify_consent_events")),
    )
    op.create_index("ix_notify_consent_events_contact", "notify_consent_events", ["contact_id", "at"], unique=False)
    op.create_table(
        "notify_subscriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("shop_connection_id", sa.Integer(), nullable=False),
        sa.Column("variant_external_id", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("active_key", sa.String(length=400), nullable=True),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outbound_message_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_notify_subscriptions_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["shop_connection_id"],
            ["shop_connections.id"],
            name=op.f("fk_notify_subscriptions_shop_connection_id_shop_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notify_subscriptions")),
        sa.UniqueConstraint("active_key", name=op.f("uq_notify_subscriptions_active_key")),
    )
    op.create_index(
        "ix_notify_subscriptions_wave",
        "notify_subscriptions",
        ["shop_connection_id", "variant_external_id", "status", "id"],
        unique=False,
    )
    op.create_table(
        "notify_orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_connection_id", sa.Integer(), nullable=False),
        sa.Column("order_external_id", sa.String(length=255), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("last_kind", sa.String(length=64), nullable=True),
        sa.Column("in_flight", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["shop_connection_id"],
            ["shop_connections.id"],
            name=op.f("fk_notify_orders_shop_connection_id_shop_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notify_orders")),
        sa.UniqueConstraint(
            "shop_connection_id",
            "order_external_id",
            name=op.f("uq_notify_orders_shop_connection_id_order_external_id"),
        ),
    )
    op.create_index("ix_notify_orders_in_flight", "notify_orders", ["in_flight", "updated_at"], unique=False)
    op.create_table(
        "notify_outbox_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["outbound_messages.id"],
            name=op.f("fk_notify_outbox_events_message_id_outbound_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notify_outbox_events")),
    )
    op.create_index("ix_notify_outbox_events_message", "notify_outbox_events", ["message_id", "id"], unique=False)
    op.create_table(
        "rate_limit_buckets",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("updated", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_rate_limit_buckets")),
    )


def downgrade() -> None:
    op.drop_table("rate_limit_buckets")
    op.drop_index("ix_notify_outbox_events_message", table_name="notify_outbox_events")
    op.drop_table("notify_outbox_events")
    op.drop_index("ix_notify_orders_in_flight", table_name="notify_orders")
    op.drop_table("notify_orders")
    op.drop_index("ix_notify_subscriptions_wave", table_name="notify_subscriptions")
    op.drop_table("notify_subscriptions")
    op.drop_index("ix_notify_consent_events_contact", table_name="notify_consent_events")
    op.drop_table("notify_consent_events")
    op.drop_table("notify_consents")
    with op.batch_alter_table("outbound_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_outbound_messages_recipient")
        batch_op.drop_index("ix_outbound_messages_sent")
        for column in reversed(_outbox_columns()):
            batch_op.drop_column(column.name)
