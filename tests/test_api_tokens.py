"""API tokens over real HTTP: scopes, expiry, revocation from the command line, ``/metrics`` behind a token, and
``last_used_at`` written at most once a minute."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import select, update

from connector.api.auth import create_token
from connector.config import load_config
from connector.db.models import ApiToken
from connector.runtime import Runtime
from connector.server import EmbeddedServer
from tests.test_cli import connector


@pytest.fixture
def served(runtime: Runtime) -> Iterator[EmbeddedServer]:
    embedded = EmbeddedServer(runtime, port=0, scheduler=False, worker=False)
    embedded.start()
    yield embedded
    embedded.stop()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_tokens_are_created_scoped_listed_and_revoked_from_the_command_line(tmp_path: Path) -> None:
    assert connector("init", cwd=tmp_path).returncode == 0
    made = connector("tokens", "create", "grafana", "--scope", "read", "--expires-in", "90d", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    reader = made.stdout.strip()
    writer = connector("tokens", "create", "deploy", cwd=tmp_path).stdout.strip()
    assert connector("tokens", "create", "x", "--expires-in", "soon", cwd=tmp_path).returncode == 2

    rt = Runtime(load_config(tmp_path / "connector.toml"))
    server = EmbeddedServer(rt, port=0, scheduler=False, worker=False)
    server.start()
    try:
        assert requests.get(f"{server.url}/api/v1/connections/", headers=_bearer(reader), timeout=10).status_code == 200
        sync = {"shop_connection_id": 1, "mode": "full"}
        refused = requests.post(f"{server.url}/api/v1/sync-runs/", json=sync, headers=_bearer(reader), timeout=10)
        assert refused.status_code == 403
        assert "read-only" in refused.json()["message"]
        allowed = requests.post(f"{server.url}/api/v1/sync-runs/", json=sync, headers=_bearer(writer), timeout=10)
        assert allowed.status_code == 404  # past authentication: there is no shop connection 1

        listed = {t["name"]: t for t in json.loads(connector("tokens", "list", "--json", cwd=tmp_path).stdout)}
        assert listed["grafana"]["scope"] == "read" and listed["deploy"]["scope"] == "write"
        assert listed["grafana"]["state"] == "active" and listed["grafana"]["expires_at"] is not None
        assert listed["grafana"]["last_used_at"] is not None
        assert reader not in json.dumps(listed)  # only hashes are stored

        revoked = connector("tokens", "revoke", str(listed["grafana"]["id"]), cwd=tmp_path)
        assert revoked.returncode == 0 and "grafana" in revoked.stdout
        gone = requests.get(f"{server.url}/api/v1/connections/", headers=_bearer(reader), timeout=10)
        assert gone.status_code == 401 and "revoked" in gone.json()["message"]
        states = {t["name"]: t["state"] for t in json.loads(connector("tokens", "list", "--json", cwd=tmp_path).stdout)}
        assert states == {"created by connector init": "active", "grafana": "revoked", "deploy": "active"}
        assert connector("tokens", "revoke", "99", cwd=tmp_path).returncode == 1
    finally:
        server.stop()
        rt.close()


def test_an_expired_token_is_refused(served: EmbeddedServer, runtime: Runtime) -> None:
    token = create_token(runtime, "short-lived", expires_in=timedelta(hours=1))
    url = f"{served.url}/api/v1/plugins/"
    assert requests.get(url, headers=_bearer(token), timeout=10).status_code == 200
    with runtime.db.session() as session:
        expires_at = session.scalar(select(ApiToken.expires_at).where(ApiToken.name == "short-lived"))
        assert timedelta(minutes=59) < expires_at - datetime.now(UTC) <= timedelta(hours=1)
        # The hour passes.
        session.execute(
            update(ApiToken).where(ApiToken.name == "short-lived").values(expires_at=datetime.now(UTC) - timedelta(1))
        )
    refused = requests.get(url, headers=_bearer(token), timeout=10)
    assert refused.status_code == 401
    assert "expired" in refused.json()["message"]


def test_a_read_token_reads_the_notifications_api_but_cannot_change_it(
    served: EmbeddedServer, runtime: Runtime
) -> None:
    reader = create_token(runtime, "reader", scope="read")
    url = f"{served.url}/api/v1/notifications"
    assert requests.get(url, headers=_bearer(reader), timeout=10).status_code == 200
    consent = {"purpose": "marketing", "granted": False}
    refused = requests.post(f"{url}/consent/1", json=consent, headers=_bearer(reader), timeout=10)
    assert refused.status_code == 403 and "read-only" in refused.json()["message"]
    writer = create_token(runtime, "writer")
    allowed = requests.post(f"{url}/consent/1", json=consent, headers=_bearer(writer), timeout=10)
    assert allowed.status_code in (400, 404)  # past authentication: there is no contact 1


def test_metrics_need_a_token_and_a_read_token_will_do(served: EmbeddedServer, runtime: Runtime) -> None:
    anonymous = requests.get(f"{served.url}/metrics", timeout=10)
    assert anonymous.status_code == 401
    reader = create_token(runtime, "prometheus", scope="read")
    scraped = requests.get(f"{served.url}/metrics", headers=_bearer(reader), timeout=10)
    assert scraped.status_code == 200
    assert "connector_queue_tasks" in scraped.text


def test_metrics_can_be_public_by_setting(runtime: Runtime) -> None:
    runtime.config.dashboard.metrics_public = True
    embedded = EmbeddedServer(runtime, port=0, scheduler=False, worker=False)
    embedded.start()
    try:
        assert requests.get(f"{embedded.url}/metrics", timeout=10).status_code == 200
    finally:
        embedded.stop()


def test_last_used_is_written_at_most_once_a_minute(served: EmbeddedServer, runtime: Runtime) -> None:
    token = create_token(runtime, "busy")
    url = f"{served.url}/api/v1/plugins/"

    def last_used() -> datetime | None:
        with runtime.db.session() as session:
            return session.scalar(select(ApiToken.last_used_at).where(ApiToken.name == "busy"))

    assert requests.get(url, headers=_bearer(token), timeout=10).status_code == 200
    first = last_used()
    assert first is not None
    for _ in range(5):
        assert requests.get(url, headers=_bearer(token), timeout=10).status_code == 200
    assert last_used() == first  # no write per request
    earlier = datetime.now(UTC) - timedelta(minutes=2)
    with runtime.db.session() as session:
        session.execute(update(ApiToken).where(ApiToken.name == "busy").values(last_used_at=earlier))
    assert requests.get(url, headers=_bearer(token), timeout=10).status_code == 200
    assert last_used() > earlier + timedelta(minutes=1)
