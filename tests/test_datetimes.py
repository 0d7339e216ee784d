"""Datetimes in the database: aware UTC in, aware UTC out, the same stored text on SQLite as SQLAlchemy writes.

Every timestamp column is :class:`connector.db.models.UTCDateTime`. On SQLite it binds with one function of its own
instead of SQLAlchemy's chain (see ``UTCDateTime.bind_processor``): what it stores must be exactly what SQLAlchemy's
``DATETIME`` stored before, or rows written by an older version would sort and compare wrongly against new ones.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, insert, select, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import StatementError

from connector.db.models import UTCDateTime

INSTANTS = [
    datetime(2026, 12, 8, 2, 19, 24, 569803, tzinfo=UTC),
    datetime(2026, 12, 8, 2, 19, 24, tzinfo=UTC),  # no microseconds: still written as .000000
    datetime(2026, 3, 29, 2, 30, tzinfo=ZoneInfo("Europe/Berlin")),  # the hour the clocks skip
    datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=ZoneInfo("Europe/Berlin")),  # the hour that comes twice
    datetime(2027, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=5, minutes=45))),  # a day earlier in UTC
    datetime(999, 1, 2, 3, 4, 5, 6, tzinfo=timezone(timedelta(hours=-3))),  # a three-digit year
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
]
#: The same instants in UTC (Python never finds a time in a skipped or repeated hour equal to one in another zone).
IN_UTC = [at.astimezone(UTC) for at in INSTANTS]


def _table() -> tuple[MetaData, Table]:
    metadata = MetaData()
    return metadata, Table("stamps", metadata, Column("id", Integer, primary_key=True), Column("at", UTCDateTime()))


def test_sqlite_stores_the_text_sqlalchemy_datetime_stores(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'stamps.db'}")
    metadata, stamps = _table()
    metadata.create_all(engine)
    sqlalchemy_text = sqlite.DATETIME().bind_processor(sqlite.dialect())
    assert sqlalchemy_text is not None
    with engine.begin() as conn:
        conn.execute(insert(stamps), [{"at": at} for at in INSTANTS])
        stored = conn.execute(text("SELECT at FROM stamps ORDER BY id")).scalars().all()
        read = conn.execute(select(stamps.c.at).order_by(stamps.c.id)).scalars().all()
    assert stored == [sqlalchemy_text(at.astimezone(UTC).replace(tzinfo=None)) for at in INSTANTS]
    assert stored[0] == "2026-12-08 02:19:24.569803" and stored[1] == "2026-12-08 02:19:24.000000"
    assert read == IN_UTC and all(at.tzinfo is UTC for at in read)


def test_a_comparison_in_another_zone_finds_the_same_rows(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'stamps.db'}")
    metadata, stamps = _table()
    metadata.create_all(engine)
    noon = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(insert(stamps), [{"at": noon + timedelta(minutes=m)} for m in (-90, -1, 0, 1, 90)])
        in_tokyo = noon.astimezone(ZoneInfo("Asia/Tokyo"))
        before = conn.execute(select(stamps.c.at).where(stamps.c.at < in_tokyo).order_by(stamps.c.at)).scalars().all()
    assert before == [noon - timedelta(minutes=90), noon - timedelta(minutes=1)]


class _NoOffset(tzinfo):
    """A zone that does not know its offset: Python counts such a datetime as naive."""

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None


@pytest.mark.parametrize("naive", [datetime(2026, 12, 8, 2, 0), datetime(2026, 12, 8, 2, 0, tzinfo=_NoOffset())])
def test_a_naive_datetime_is_refused_on_every_database(naive: datetime, database_url: str) -> None:
    engine = create_engine(database_url)
    metadata, stamps = _table()
    metadata.create_all(engine)
    try:
        with pytest.raises(StatementError, match="naive datetime"), engine.begin() as conn:
            conn.execute(insert(stamps), {"at": naive})
        with engine.begin() as conn:
            conn.execute(insert(stamps), [{"at": at} for at in INSTANTS])
            read = conn.execute(select(stamps.c.at).order_by(stamps.c.id)).scalars().all()
        assert read == IN_UTC
    finally:
        metadata.drop_all(engine)
        engine.dispose()
