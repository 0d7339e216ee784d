"""Campaigns to segments, what chat earned, Conversions API events: the ``segments``, ``campaigns``,
``sales_orders``, ``sales_order_lines`` and ``conversion_events`` tables, and ``campaign_id`` on the outbox.
Existing rows are untouched (existing messages belong to no campaign).

Revision ID: c21_campaigns_0001
Revises: c22_ws (campaigns and segments belong to a workspace)
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c21_campaigns_0001"
down_revision: str | Sequence[str] | None = "c21_recovery"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.Integer(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "segments",
        _id(),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("filters", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_segments_workspace_id_workspaces"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segments")),
    )
    op.create_index(op.f("ix_segments_workspace_id"), "segments", ["workspace_id"], unique=False)
    op.create_table(
        "campaigns",
        _id(),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("segment_id", sa.Integer(), nullable=False),
        sa.Column("channel_connection_id", sa.Integer(), nullable=False),
        sa.Column("template", sa.String(length=512), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("scheduled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("budget_cap", sa.Float(), nullable=False),
        sa.Column("estimated_cost", sa.Float(), nullable=False),
        sa.Column("cursor", sa.Integer(), nullable=False),
        sa.Column("queued", sa.Integer(), nullable=False),
        sa.Column("excluded", sa.JSON(), nullable=False),
        sa.Column("run", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["channel_connection_id"],
            ["channel_connections.id"],
            name=op.f("fk_campaigns_channel_connection_id_channel_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["segment_id"], ["segments.id"], name=op.f("fk_campaigns_segment_id_segments"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_campaigns_workspace_id_workspaces"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
    )
    op.create_index(op.f("ix_campaigns_workspace_id"), "campaigns", ["workspace_id"], unique=False)
    op.create_table(
        "sales_orders",
        _id(),
        sa.Column("shop_connection_id", sa.Integer(), nullable=False),
        sa.Column("order_external_id", sa.String(length=255), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("total", sa.Float(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=True),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("touched_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name=op.f("fk_sales_orders_campaign_id_campaigns"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_sales_orders_contact_id_contacts"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["shop_connection_id"],
            ["shop_connections.id"],
            name=op.f("fk_sales_orders_shop_connection_id_shop_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sales_orders")),
        sa.UniqueConstraint(
            "shop_connection_id", "order_external_id", name=op.f("uq_sales_orders_shop_connection_id_order_external_id")
        ),
    )
    op.create_index(op.f("ix_sales_orders_campaign_id"), "sales_orders", ["campaign_id"], unique=False)
    op.create_index("ix_sales_orders_contact", "sales_orders", ["contact_id", "paid_at"], unique=False)
    op.create_index("ix_sales_orders_source", "sales_orders", ["source", "paid_at"], unique=False)
    op.create_table(
        "sales_order_lines",
        _id(),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("product_external_id", sa.String(length=255), nullable=False),
        sa.Column("variant_external_id", sa.String(length=255), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["sales_orders.id"],
            name=op.f("fk_sales_order_lines_order_id_sales_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sales_order_lines")),
    )
    op.create_index(op.f("ix_sales_order_lines_order_id"), "sales_order_lines", ["order_id"], unique=False)
    op.create_index(
        "ix_sales_order_lines_product", "sales_order_lines", ["product_external_id", "order_id"], unique=False
    )
    op.create_table(
        "conversion_events",
        _id(),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("channel_connection_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("fbtrace_id", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["channel_connection_id"],
            ["channel_connections.id"],
            name=op.f("fk_conversion_events_channel_connection_id_channel_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["sales_orders.id"],
            name=op.f("fk_conversion_events_order_id_sales_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversion_events")),
        sa.UniqueConstraint("order_id", name=op.f("uq_conversion_events_order_id")),
    )
    # Segments filter on a contact's subscriptions (an index probe per contact).
    op.create_index(
        "ix_notify_subscriptions_contact", "notify_subscriptions", ["contact_id", "variant_external_id"], unique=False
    )
    with op.batch_alter_table("outbound_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("campaign_id", sa.Integer(), nullable=True))
        batch_op.create_index("ix_outbound_messages_campaign", ["campaign_id", "status"], unique=False)
        # The frequency cap counts a customer's recent marketing messages.
        batch_op.create_index("ix_outbound_messages_contact", ["contact_id", "created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outbound_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_outbound_messages_contact")
        batch_op.drop_index("ix_outbound_messages_campaign")
        batch_op.drop_column("campaign_id")
    op.drop_index("ix_notify_subscriptions_contact", table_name="notify_subscriptions")
    op.drop_table("conversion_events")
    op.drop_index("ix_sales_order_lines_product", table_name="sales_order_lines")
    op.drop_index(op.f("ix_sales_order_lines_order_id"), table_name="sales_order_lines")
    op.drop_table("sales_order_lines")
    op.drop_index("ix_sales_orders_source", table_name="sales_orders")
    op.drop_index("ix_sales_orders_contact", table_name="sales_orders")
    op.drop_index(op.f("ix_sales_orders_campaign_id"), table_name="sales_orders")
    op.drop_table("sales_orders")
    op.drop_index(op.f("ix_campaigns_workspace_id"), table_name="campaigns")
    op.drop_table("campaigns")
    op.drop_index(op.f("ix_segments_workspace_id"), table_name="segments")
    op.drop_table("segments")
