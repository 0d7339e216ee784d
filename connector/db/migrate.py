"""Alembic migrations, run from code (``connector db upgrade``, ``connector init``, tests)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from connector.db import Database


def alembic_config(db: Database) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", "connector:migrations")
    cfg.set_main_option("sqlalchemy.url", db.url.replace("%", "%%"))
    return cfg


@contextmanager
def _migrating(db: Database) -> Iterator[Connection]:
    """A connection in a transaction for a migration.

    On SQLite, foreign keys are off while it runs: SQLite alters a table by copying it (Alembic's batch mode), and
    dropping the old copy of a parent table (``shop_connections``) with foreign keys on deletes every child row
    through ``ON DELETE CASCADE``. The pragma only works outside a transaction, so it is set on the driver's
    connection before the transaction begins; ``PRAGMA foreign_key_check`` then refuses (rolls back) a migration
    that left a dangling reference, and foreign keys are on again before the connection goes back to the pool."""
    with db.engine.connect() as connection:
        raw = connection.connection.driver_connection if db.is_sqlite else None
        if raw is not None:
            raw.execute("PRAGMA foreign_keys=OFF")
        try:
            with connection.begin():
                yield connection
                if raw is not None:
                    dangling = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if dangling:
                        raise RuntimeError(f"the migration left rows referring to missing rows: {dangling[:5]}")
        finally:
            if raw is not None:
                raw.execute("PRAGMA foreign_keys=ON")


def upgrade(db: Database, revision: str = "heads") -> None:
    """Bring the schema to ``revision`` (default: every head, the newest of each branch)."""
    cfg = alembic_config(db)
    with _migrating(db) as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)


def downgrade(db: Database, revision: str) -> None:
    cfg = alembic_config(db)
    with _migrating(db) as connection:
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, revision)


def current_revisions(db: Database) -> set[str]:
    with db.engine.connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads())


def head_revisions(db: Database) -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config(db)).get_heads())


def current_revision(db: Database) -> str | None:
    """The current revision(s) as one string (``None`` for an empty database)."""
    return ",".join(sorted(current_revisions(db))) or None


def head_revision(db: Database) -> str | None:
    return ",".join(sorted(head_revisions(db))) or None


def is_up_to_date(db: Database) -> bool:
    return current_revisions(db) == head_revisions(db)
