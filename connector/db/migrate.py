"""Alembic migrations, run from code (``connector db upgrade``, ``connector init``, tests)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from connector.db import Database


def alembic_config(db: Database) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", "connector:migrations")
    cfg.set_main_option("sqlalchemy.url", db.url.replace("%", "%%"))
    return cfg


def upgrade(db: Database, revision: str = "heads") -> None:
    """Bring the schema to ``revision`` (default: every head, the newest of each branch)."""
    cfg = alembic_config(db)
    with db.engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)


def downgrade(db: Database, revision: str) -> None:
    cfg = alembic_config(db)
    with db.engine.begin() as connection:
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
