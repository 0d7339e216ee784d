"""Personal data encrypted at rest: message texts, addresses, carts, replies and raw webhook payloads.

Existing rows are encrypted in place with the newest key of ``[security] encryption_keys`` (the database must be
opened by a runtime that has the keys, as ``connector db upgrade`` does). Two columns keep what must stay
searchable without the plaintext: ``webhook_events.subjects`` (a keyed-hash blind index of the phone numbers and
e-mail addresses a payload names) and ``inbound_messages.has_referral``.

Revision ID: h15_gdpr
Revises: h15_auth
Create Date: 2026-12-07
"""

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from connector.errors import ConfigError
from connector.privacy.identifiers import subjects
from connector.secrets import SecretBox

revision: str = "h15_gdpr"
down_revision: str | Sequence[str] | None = "h15_auth"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: (table, column, stored type) of every column encrypted from now on.
ENCRYPTED: list[tuple[str, str, Any]] = [
    ("webhook_events", "body", sa.LargeBinary),
    ("inbound_messages", "data", sa.JSON),
    ("outbound_messages", "payload", sa.JSON),
    ("outbound_messages", "notification", sa.JSON),
    ("conversation_states", "data", sa.JSON),
    ("conversation_states", "address", sa.JSON),
    ("chat_orders", "cart", sa.JSON),
    ("chat_handoffs", "text", sa.Text),
    ("chat_replies", "payload", sa.JSON),
]
CHUNK = 500


def _rows(conn: sa.Connection, table: sa.TableClause, column: str) -> Iterator[tuple[int, Any]]:
    last = 0
    while True:
        chunk = conn.execute(
            sa.select(table.c.id, table.c[column]).where(table.c.id > last).order_by(table.c.id).limit(CHUNK)
        ).all()
        if not chunk:
            return
        yield from ((row[0], row[1]) for row in chunk)
        last = chunk[-1][0]


def _box(conn: sa.Connection) -> SecretBox:
    box = getattr(conn.dialect, "connector_secrets", None)
    if box is None:
        raise ConfigError("h15_gdpr encrypts stored personal data: run it with security.encryption_keys configured")
    return box


def _convert(conn: sa.Connection, convert: Callable[[SecretBox, Any, Any], Any]) -> None:
    """Rewrite every non-null value of every encrypted column through ``convert(box, type, value)``."""
    for name, column, kind in ENCRYPTED:
        table = sa.table(name, sa.column("id", sa.Integer), sa.column(column, kind))
        for row_id, value in _rows(conn, table, column):
            if value is None:
                continue
            conn.execute(
                sa.update(table).where(table.c.id == row_id).values({column: convert(_box(conn), kind, value)})
            )


def _encrypt(box: SecretBox, kind: Any, value: Any) -> Any:
    if kind is sa.LargeBinary:
        return box.encrypt_bytes(bytes(value))
    if isinstance(value, str) and kind is sa.JSON:
        return value  # already a token (a re-run after a partial upgrade)
    return box.encrypt(value)


def _decrypt(box: SecretBox, kind: Any, value: Any) -> Any:
    if kind is sa.LargeBinary:
        return box.decrypt_bytes(bytes(value))
    return box.decrypt(value) if isinstance(value, str) else value


def upgrade() -> None:
    with op.batch_alter_table("webhook_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("subjects", sa.Text(), nullable=True))
    with op.batch_alter_table("inbound_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("has_referral", sa.Boolean(), server_default=sa.false(), nullable=False))
    conn = op.get_bind()
    # The searchable columns first, from the plaintext.
    events = sa.table("webhook_events", sa.column("id", sa.Integer), sa.column("body", sa.LargeBinary))
    events_subjects = sa.table("webhook_events", sa.column("id", sa.Integer), sa.column("subjects", sa.Text))
    for row_id, body in _rows(conn, events, "body"):
        conn.execute(
            sa.update(events_subjects)
            .where(events_subjects.c.id == row_id)
            .values(subjects=subjects(_box(conn), bytes(body or b"")))
        )
    messages = sa.table("inbound_messages", sa.column("id", sa.Integer), sa.column("data", sa.JSON))
    flags = sa.table("inbound_messages", sa.column("id", sa.Integer), sa.column("has_referral", sa.Boolean))
    for row_id, data in _rows(conn, messages, "data"):
        if isinstance(data, dict) and isinstance(data.get("referral"), dict) and data["referral"]:
            conn.execute(sa.update(flags).where(flags.c.id == row_id).values(has_referral=True))
    _convert(conn, _encrypt)


def downgrade() -> None:
    _convert(op.get_bind(), _decrypt)
    with op.batch_alter_table("inbound_messages", schema=None) as batch_op:
        batch_op.drop_column("has_referral")
    with op.batch_alter_table("webhook_events", schema=None) as batch_op:
        batch_op.drop_column("subjects")
