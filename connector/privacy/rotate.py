"""Re-encrypting the personal data columns under the newest key (``connector rotate-keys``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from sqlalchemy import Table, select, update

from connector.db.encrypted import EncryptedBytes, EncryptedJSON, EncryptedText
from connector.db.models import Base, WebhookEvent
from connector.privacy.identifiers import subjects

if TYPE_CHECKING:
    from connector.runtime import Runtime

_CHUNK = 500


def encrypted_columns() -> list[tuple[Table, str]]:
    """Every (table, column) encrypted at rest."""
    return [
        (table, column.name)
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, EncryptedBytes | EncryptedJSON | EncryptedText)
    ]


def rotate_personal_data(rt: Runtime) -> int:
    """Decrypt each encrypted value with any configured key and write it back under the newest; webhook payloads'
    blind index is rebuilt with the newest key too. Returns how many values were rewritten."""
    count = 0
    for table, column in encrypted_columns():
        last = 0
        while True:
            with rt.db.session() as session:
                rows = session.execute(
                    select(table.c.id, table.c[column]).where(table.c.id > last).order_by(table.c.id).limit(_CHUNK)
                ).all()
                for row_id, value in cast("list[tuple[int, bytes | None]]", rows):
                    values: dict[str, object] = {column: value}
                    if table is WebhookEvent.__table__ and column == "body":
                        values["subjects"] = subjects(rt.secrets, value)
                    session.execute(update(table).where(table.c.id == row_id).values(values))
                    count += value is not None
            if not rows:
                break
            last = rows[-1][0]
    return count
