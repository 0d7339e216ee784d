"""Nothing the customer said is lost, and customers known by a business-scoped user id.

* ``inbound_messages.edited_at`` / ``deleted_at``: a customer's edit (Messenger ``message_edit``) or unsend
  (Instagram ``is_deleted``) marks the stored message; the first wording stays.
* ``contacts.user_id``: the WhatsApp business-scoped user id (BSUID, 2026) next to the phone number, so a customer
  whose number WhatsApp later hides is still found. Existing contacts keyed by a BSUID get it carried forward.

Revision ID: c16_inbound
Revises: b_obs
Create Date: 2026-12-07
"""

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c16_inbound"
down_revision: str | Sequence[str] | None = "c19_onb_install_states"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BSUID = re.compile(r"[A-Z]{2}(\.ENT)?\.[A-Za-z0-9]{1,128}")


def upgrade() -> None:
    with op.batch_alter_table("inbound_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("user_id", sa.String(length=140), nullable=True))
        batch_op.create_index("ix_contacts_user_id", ["channel_connection_id", "user_id"])
        # A shop order's phone number finds a contact known by a BSUID who shared that number.
        batch_op.create_index("ix_contacts_phone", ["channel_connection_id", "phone"])
    contacts = sa.table("contacts", sa.column("id", sa.Integer), sa.column("channel_user_id", sa.String))
    bind = op.get_bind()
    candidates = sa.select(contacts.c.id, contacts.c.channel_user_id).where(contacts.c.channel_user_id.like("__.%"))
    keyed = [(row.id, row.channel_user_id) for row in bind.execute(candidates) if _BSUID.fullmatch(row.channel_user_id)]
    for contact_id, user_id in keyed:
        bind.execute(sa.text("UPDATE contacts SET user_id = :u WHERE id = :i"), {"u": user_id, "i": contact_id})


def downgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index("ix_contacts_phone")
        batch_op.drop_index("ix_contacts_user_id")
        batch_op.drop_column("user_id")
    with op.batch_alter_table("inbound_messages", schema=None) as batch_op:
        batch_op.drop_column("deleted_at")
        batch_op.drop_column("edited_at")
