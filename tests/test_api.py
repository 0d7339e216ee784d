"""The admin JSON API: bearer auth, OpenAPI, connections, plugins, runs, catalog items and webhook events."""

from __future__ import annotations

from typing import Any

from connector.runtime import Runtime
from tests.conftest import Stack


def test_every_route_needs_a_token_but_the_openapi_document(client: Any) -> None:
    assert client.get("/api/v1/connections/").status_code == 401
    assert client.get("/api/v1/connections/", headers={"Authorization": "Bearer wrong"}).status_code == 401
    spec = client.get("/api/v1/openapi.json")
    assert spec.status_code == 200
    paths = spec.get_json()["paths"]
    for path in (
        "/api/v1/connections/",
        "/api/v1/plugins/",
        "/api/v1/sync-runs/",
        "/api/v1/catalog-items/",
        "/api/v1/webhook-events/",
    ):
        assert path in paths


def test_health(client: Any) -> None:
    body = client.get("/healthz").get_json()
    assert body["status"] == "ok"


def test_tokens_are_stored_hashed(runtime: Runtime, api_headers: dict[str, str]) -> None:
    from sqlalchemy import select

    from connector.db.models import ApiToken

    token = api_headers["Authorization"].split()[1]
    with runtime.db.session() as session:
        stored = session.scalar(select(ApiToken.token_hash))
    assert stored != token and len(stored) == 64


def test_invalid_connection_settings_name_the_field(client: Any, api_headers: dict[str, str]) -> None:
    response = client.post(
        "/api/v1/connections/shops",
        json={"platform": "woocommerce", "settings": {"shop_url": "not a url"}},
        headers=api_headers,
    )
    assert response.status_code == 422
    errors = response.get_json()["errors"]["settings"]
    assert "shop_url" in errors
    unknown = client.post(
        "/api/v1/connections/shops", json={"platform": "magento", "settings": {}}, headers=api_headers
    )
    assert unknown.status_code == 422
    assert "magento" in unknown.get_json()["message"]


def test_connection_lifecycle_over_the_api(quiet_stack: Stack) -> None:
    from connector.api.auth import create_token
    from connector.web.app import create_app

    rt = quiet_stack.runtime
    client = create_app(runtime=rt).test_client()
    headers = {"Authorization": f"Bearer {create_token(rt, 't')}"}
    settings = {
        k: v
        for k, v in quiet_stack.shop.connection_settings().items()
        if k in {f.name for f in rt.plugins.shop_adapters["woocommerce"].config_fields}
    }
    created = client.post(
        "/api/v1/connections/shops",
        json={"platform": "woocommerce", "name": "API shop", "settings": settings},
        headers=headers,
    )
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    secret_fields = set(body["secret_fields"])
    assert secret_fields and not secret_fields & set(body["settings"])  # secrets never come back
    assert body["webhook_url"].endswith(f"/webhooks/woocommerce/{body['id']}")
    tested = client.post(f"/api/v1/connections/shop/{body['id']}/test", headers=headers).get_json()
    assert tested["ok"] is True

    bad = dict(settings)
    for name in secret_fields:
        bad[name] = "wrong"
    wrong = client.post(
        "/api/v1/connections/shops", json={"platform": "woocommerce", "settings": bad}, headers=headers
    ).get_json()
    result = client.post(f"/api/v1/connections/shop/{wrong['id']}/test", headers=headers).get_json()
    assert result["ok"] is False and result["error"]

    # The owner fixes the wrong secret in place: only the changed field is sent, the rest (and the id, and so the
    # webhook URL) stays, and the connection works.
    fixed = client.patch(
        f"/api/v1/connections/shop/{wrong['id']}",
        json={"name": "fixed", "settings": {name: settings[name] for name in secret_fields}},
        headers=headers,
    )
    assert fixed.status_code == 200, fixed.get_json()
    assert fixed.get_json()["name"] == "fixed" and fixed.get_json()["webhook_url"] == wrong["webhook_url"]
    assert not secret_fields & set(fixed.get_json()["settings"])
    assert client.post(f"/api/v1/connections/shop/{wrong['id']}/test", headers=headers).get_json()["ok"] is True
    unknown = client.patch(
        f"/api/v1/connections/shop/{wrong['id']}", json={"settings": {"colour": "red"}}, headers=headers
    )
    assert unknown.status_code == 422 and "colour" in unknown.get_json()["errors"]["settings"]
    emptied = client.patch(
        f"/api/v1/connections/shop/{wrong['id']}", json={"settings": {"url": "not a url"}}, headers=headers
    )
    assert emptied.status_code == 422 and "url" in emptied.get_json()["errors"]["settings"]
    assert client.patch("/api/v1/connections/shop/99999", json={"settings": {}}, headers=headers).status_code == 404

    listed = client.get("/api/v1/connections/", headers=headers).get_json()
    assert {c["id"] for c in listed if c["kind"] == "shop"} >= {body["id"], wrong["id"]}
    assert client.delete(f"/api/v1/connections/shop/{wrong['id']}", headers=headers).status_code == 204
    assert client.get(f"/api/v1/connections/shop/{wrong['id']}", headers=headers).status_code == 404


def test_runs_items_and_events_are_visible(quiet_stack: Stack) -> None:
    from connector.api.auth import create_token
    from connector.web.app import create_app

    rt = quiet_stack.runtime
    quiet_stack.full_sync()
    client = create_app(runtime=rt).test_client()
    headers = {"Authorization": f"Bearer {create_token(rt, 't')}"}
    runs = client.get("/api/v1/sync-runs/", headers=headers).get_json()
    assert runs[0]["status"] == "succeeded" and runs[0]["created"] > 0
    items = client.get(
        f"/api/v1/catalog-items/?channel_connection_id={quiet_stack.channel_id}&limit=500", headers=headers
    ).get_json()
    assert items and all(i["in_sync"] for i in items)
    plugins = {p["name"]: p for p in client.get("/api/v1/plugins/", headers=headers).get_json()}
    assert plugins["woocommerce"]["source"] == "built-in"
    queued = client.post(
        "/api/v1/sync-runs/", json={"shop_connection_id": quiet_stack.shop_id, "mode": "full"}, headers=headers
    )
    assert queued.status_code == 202 and queued.get_json()["task_id"]
    assert client.get("/api/v1/webhook-events/", headers=headers).status_code == 200
