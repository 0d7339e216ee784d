"""Limits and signals of 2026: the error code of a failed message, contacts paused for marketing (131049) or
unreachable (131026 and family), and business portfolios' messaging limits.

Existing failed messages get their error code from their stored error text where it names one (``(#131026)``) or
is a title Meta uses for exactly one code.

Revision ID: c16_signals_0001
Revises: b_obs
Create Date: 2026-12-07
"""

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c16_signals_0001"
down_revision: str | Sequence[str] | None = "b_obs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Titles of asynchronous failures that name one code each (whatsapp-cloud-api.md §6).
_TITLES = {
    "re-engagement message": 131047,
    "message undeliverable": 131026,
    "this message was not delivered to maintain healthy ecosystem engagement": 131049,
    "user's number is part of an experiment": 130472,
}
_CODE = re.compile(r"\(#(\d{1,7})\)")


def code_of(error: str | None) -> int | None:
    """The error code a stored error text names, if any."""
    if not error:
        return None
    found = _CODE.search(error)
    if found:
        return int(found.group(1))
    text = error.lower()
    for title, code in _TITLES.items():
        if title in text:
            return code
    return None


def upgrade() -> None:
    with op.batch_alter_table("outbound_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("error_code", sa.Integer(), nullable=True))
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("marketing_paused_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("marketing_paused_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("unreachable_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("unreachable_reason", sa.Text(), nullable=True))
    op.create_table(
        "notify_portfolio_limits",
        sa.Column("portfolio", sa.String(length=128), nullable=False),
        sa.Column("reach_limit", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("raw", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("portfolio", name=op.f("pk_notify_portfolio_limits")),
    )
    # Carry the codes of messages that failed before forward.
    bind = op.get_bind()
    outbox = sa.table("outbound_messages", sa.column("id", sa.Integer), sa.column("error", sa.Text),
                      sa.column("status", sa.String), sa.column("error_code", sa.Integer))  # fmt: skip
    failed = bind.execute(sa.select(outbox.c.id, outbox.c.error).where(outbox.c.status == "failed")).all()
    updates = [
        {"row_id": row_id, "code": code}
        for row_id, error in failed
        if (code := code_of(error if isinstance(error, str) else None)) is not None
    ]
    if updates:
        bind.execute(
            sa.update(outbox).where(outbox.c.id == sa.bindparam("row_id")).values(error_code=sa.bindparam("code")),
            updates,
        )


def downgrade() -> None:
    op.drop_table("notify_portfolio_limits")
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_column("unreachable_reason")
        batch_op.drop_column("unreachable_at")
        batch_op.drop_column("marketing_paused_reason")
        batch_op.drop_column("marketing_paused_until")
    with op.batch_alter_table("outbound_messages", schema=None) as batch_op:
        batch_op.drop_column("error_code")
