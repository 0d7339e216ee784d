"""Double opt-in from the web: consent requests pending confirmation on the channel, pending back-in-stock
subscriptions, and which consent events the customer made on the channel (a STOP there holds against the web).

Revision ID: h15_consent
Revises: 0004
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "h15_consent"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = "notify_0001"


def upgrade() -> None:
    op.create_table(
        "notify_consent_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("purposes", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("prompted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("confirmation", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_notify_consent_requests_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notify_consent_requests")),
        sa.UniqueConstraint("code", name=op.f("uq_notify_consent_requests_code")),
    )
    op.create_index(
        "ix_notify_consent_requests_contact", "notify_consent_requests", ["contact_id", "status"], unique=False
    )
    with op.batch_alter_table("notify_subscriptions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("consent_request_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            "ix_notify_subscriptions_consent_request_id", ["consent_request_id"], unique=False
        )
    with op.batch_alter_table("notify_consent_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("on_channel", sa.Boolean(), server_default=sa.false(), nullable=False))
    # Until now only the customer's own keywords (STOP/START, the "Stop alerts" button) were recorded as "keyword".
    op.execute("UPDATE notify_consent_events SET on_channel = (source = 'keyword')")


def downgrade() -> None:
    with op.batch_alter_table("notify_consent_events", schema=None) as batch_op:
        batch_op.drop_column("on_channel")
    with op.batch_alter_table("notify_subscriptions", schema=None) as batch_op:
        batch_op.drop_index("ix_notify_subscriptions_consent_request_id")
        batch_op.drop_column("consent_request_id")
    op.drop_index("ix_notify_consent_requests_contact", table_name="notify_consent_requests")
    op.drop_table("notify_consent_requests")
