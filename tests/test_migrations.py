"""Migrations build the schema the models describe, on SQLite and on PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from connector.db import Database
from connector.db.migrate import current_revision, downgrade, head_revision, is_up_to_date, upgrade
from connector.db.models import Base


def test_upgrade_creates_every_table_and_matches_the_models(database_url: str) -> None:
    db = Database(database_url)
    try:
        assert current_revision(db) is None
        upgrade(db)
        assert is_up_to_date(db)
        assert current_revision(db) == head_revision(db)
        tables = set(inspect(db.engine).get_table_names())
        assert set(Base.metadata.tables) <= tables
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
        assert diff == [], f"models and migrations disagree; add a revision: {diff}"
    finally:
        db.dispose()


def test_downgrade_to_base_and_back(database_url: str) -> None:
    db = Database(database_url)
    try:
        upgrade(db)
        downgrade(db, "base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade(db)
        assert is_up_to_date(db)
    finally:
        db.dispose()
