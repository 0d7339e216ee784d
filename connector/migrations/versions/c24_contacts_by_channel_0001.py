"""An index on ``contacts (channel_connection_id, id)``: a campaign walks its segment 500 contacts at a time by id
on one number. Without it SQLite read the number's contacts through the phone index and sorted every one above the
cursor, for each chunk: a campaign to 100,000 contacts read them 200 times over (quadratic), under the write lock.

Revision ID: c24_contacts_by_channel_0001
Revises: c23_campaign_products_0001
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "c24_contacts_by_channel_0001"
down_revision: str | Sequence[str] | None = "c23_campaign_products_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_contacts_channel_id", "contacts", ["channel_connection_id", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_contacts_channel_id", table_name="contacts")
