"""Shared fixtures: a real runtime on a real database, the real web app, and sandboxes over real HTTP.

Platform plugins keep their own fixtures in ``tests/plugins/<name>/conftest.py``.

PostgreSQL: tests marked ``postgres`` (and the ``database_url`` fixture's ``postgres`` parameter) use
``CONNECTOR_TEST_POSTGRES_URL`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``)
as an admin connection and create a fresh database per test. Without a server they are skipped
locally, but fail when ``CI=true``: CI must never pass by skipping them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

import connector.http
from connector.config import Config, generate_secrets, load_config
from connector.db.migrate import upgrade
from connector.plugins import Plugins
from connector.runtime import Runtime

POSTGRES_ADMIN_URL = os.environ.get("CONNECTOR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture(autouse=True)
def _fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep retry backoff real but short: the behaviour is the same, the suite just doesn't wait seconds."""
    monkeypatch.setattr(connector.http, "BACKOFF_SCALE", 0.01)


# --------------------------------------------------------------------------- databases


def _postgres_available() -> str | None:
    try:
        engine = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as exc:  # any failure to connect means "no server here"
        return str(exc).splitlines()[0]


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[str]:
    problem = _postgres_available()
    if problem is not None:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI but unreachable at {POSTGRES_ADMIN_URL}: {problem}")
        pytest.skip(f"no PostgreSQL server: {problem}")
    yield POSTGRES_ADMIN_URL


@pytest.fixture
def postgres_url(postgres_admin: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test."""
    name = f"connector_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_admin, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(postgres_admin).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test using it runs twice: on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'connector.db'}"
    return request.getfixturevalue("postgres_url")


# --------------------------------------------------------------------------- runtime and app


def make_config(database_url: str, **sections: Any) -> Config:
    secrets = generate_secrets()
    overrides: dict[str, Any] = {
        "database": {"url": database_url},
        "security": {"secret_key": secrets["secret_key"], "encryption_keys": [secrets["encryption_key"]]},
        "scheduler": {"enabled": False},
        "worker": {"threads": 2, "poll_interval": 0.05},
    }
    for name, values in sections.items():
        overrides.setdefault(name, {}).update(values)
    return load_config(overrides=overrides)


@pytest.fixture(scope="session")
def plugins() -> Plugins:
    """The installed plugins, loaded through entry points like in production (shared: loading is slow)."""
    return Plugins()


@pytest.fixture
def runtime(tmp_path: Path, plugins: Plugins) -> Iterator[Runtime]:
    """A runtime on a migrated SQLite database in a temporary folder."""
    rt = Runtime(make_config(f"sqlite:///{tmp_path / 'connector.db'}"), plugins=plugins)
    upgrade(rt.db)
    yield rt
    rt.close()


@pytest.fixture
def app(runtime: Runtime) -> Any:
    from connector.web.app import create_app

    application = create_app(runtime=runtime)
    application.testing = True
    return application


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def api_headers(runtime: Runtime) -> dict[str, str]:
    from connector.api.auth import create_token

    return {"Authorization": f"Bearer {create_token(runtime, 'tests')}"}
