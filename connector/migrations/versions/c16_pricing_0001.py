"""WhatsApp pricing since 2026-10: the pricing Meta reported per message (``outbound_messages.billed_category``,
``billed_type``, ``billable``, ``pricing_model``) and the template re-categorizations
(``template_categories``).

Existing rows keep their estimated ``cost`` exactly as stored (it was priced by the card of its day); the billed
columns start empty, as no status webhook's pricing was kept before.

Revision ID: c16_pricing_0001
Revises: b_obs
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c16_pricing_0001"
down_revision: str | Sequence[str] | None = "c16_misc_phone"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbound_messages") as batch_op:
        batch_op.add_column(sa.Column("billed_category", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("billed_type", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("billable", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("pricing_model", sa.String(length=16), nullable=True))
    op.create_table(
        "template_categories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel_connection_id", sa.Integer(), nullable=False),
        sa.Column("template_id", sa.String(length=64), nullable=False),
        sa.Column("template_name", sa.String(length=512), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("previous_category", sa.String(length=32), nullable=True),
        sa.Column("effective_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("impending", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_connection_id"],
            ["channel_connections.id"],
            name="fk_template_categories_channel",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_template_categories")),
        sa.UniqueConstraint(
            "channel_connection_id",
            "template_name",
            "language",
            "effective_at",
            name="uq_template_categories_key",
        ),
    )
    op.create_index(
        "ix_template_categories_lookup",
        "template_categories",
        ["channel_connection_id", "template_name", "effective_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_template_categories_lookup", table_name="template_categories")
    op.drop_table("template_categories")
    with op.batch_alter_table("outbound_messages") as batch_op:
        batch_op.drop_column("pricing_model")
        batch_op.drop_column("billable")
        batch_op.drop_column("billed_type")
        batch_op.drop_column("billed_category")
