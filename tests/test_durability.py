"""Acknowledged webhooks survive a power failure: SQLite syncs its log at every commit unless told otherwise."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from connector.runtime import Runtime
from tests.conftest import make_config

#: PRAGMA synchronous values: 1 = NORMAL, 2 = FULL.
FULL, NORMAL = 2, 1


def _synchronous(rt: Runtime) -> int:
    with rt.db.engine.connect() as conn:
        return int(conn.execute(text("PRAGMA synchronous")).scalar_one())


def test_sqlite_commits_are_synced_to_disk_by_default(runtime: Runtime) -> None:
    assert runtime.config.database.sqlite_synchronous == "FULL"
    assert _synchronous(runtime) == FULL


def test_normal_durability_is_a_setting(tmp_path: Path) -> None:
    config = make_config(f"sqlite:///{tmp_path / 'c.db'}", database={"sqlite_synchronous": "NORMAL"})
    rt = Runtime(config)
    try:
        assert _synchronous(rt) == NORMAL
    finally:
        rt.close()
