"""API tokens restricted to one shop connection, over real HTTP against a live stack with two shops that both have
data: a token of shop A walks every admin API operation (the OpenAPI document's and the notifications API's) with the
ids of shop B and gets 404 or 403 and nothing of B; with its own ids it works as usual."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from connector.api.auth import create_token
from connector.config import load_config
from connector.db.models import (
    CatalogItem,
    ChannelConnection,
    Contact,
    OutboundMessage,
    ShopConnection,
    ShopVariant,
    SyncRun,
    WebhookEvent,
)
from connector.db.models_notify import BackInStockSubscription, Consent, OutboxEvent
from connector.notify.consent import record_opt_in
from connector.runtime import Runtime
from tests.conftest import Stack, start_stack, stop_stack
from tests.test_cli import connector

PARAM = re.compile(r"<(?:[^>]*:)?(\w+)>")


@dataclass
class Shop:
    """One shop connection's ids and the word its data carries (so a response can be searched for it)."""

    tag: str
    shop_id: int
    channel_id: int
    contact_id: int
    message_id: int
    phone: str


@dataclass
class TwoShops:
    stack: Stack
    a: Shop
    b: Shop
    token: str  # restricted to shop A

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        return requests.request(method, f"{self.stack.url}{path}", headers=headers, timeout=30, **kwargs)


def _seed(rt: Runtime, tag: str, shop_id: int, channel_id: int, phone: str) -> Shop:
    """Rows of every kind the API shows, for one shop, each carrying ``tag``."""
    now = datetime.now(UTC)
    with rt.db.session() as session:
        variant = ShopVariant(
            shop_connection_id=shop_id,
            external_id=f"var-{tag}",
            product_external_id=f"prod-{tag}",
            title=f"Widget {tag}",
            data={},
            content_hash=f"hash-{tag}",
        )
        contact = Contact(channel_connection_id=channel_id, channel_user_id=phone, phone=phone, name=f"Customer {tag}")
        session.add_all([variant, contact, SyncRun(shop_connection_id=shop_id, mode="full", trigger=f"seed-{tag}")])
        session.flush()
        message = OutboundMessage(
            channel_connection_id=channel_id,
            contact_id=contact.id,
            recipient=phone,
            kind="back_in_stock",
            payload={"text": f"back in stock {tag}"},
            idempotency_key=f"seed-{tag}",
            status="sent",
            sent_at=now,
            cost=0.05,
            currency="EUR",
            reason=f"seeded {tag}",
        )
        session.add_all(
            [
                message,
                CatalogItem(
                    channel_connection_id=channel_id,
                    shop_variant_id=variant.id,
                    retailer_id=f"retailer-{tag}",
                    status="synced",
                    source_hash=f"hash-{tag}",
                ),
                BackInStockSubscription(
                    contact_id=contact.id,
                    shop_connection_id=shop_id,
                    variant_external_id=f"var-{tag}",
                    source=f"seed-{tag}",
                    expires_at=now + timedelta(days=30),
                ),
            ]
        )
        for kind, connection_id in (("shop", shop_id), ("channel", channel_id)):
            session.add(
                WebhookEvent(
                    connection_kind=kind,
                    connection_id=connection_id,
                    adapter="seed",
                    delivery_id=f"delivery-{kind}-{tag}",
                    topic=f"topic-{tag}",
                    method="POST",
                    url=f"http://seed/{tag}",
                    headers={},
                    body=b"{}",
                )
            )
        session.flush()
        session.add(OutboxEvent(message_id=message.id, status="sent", detail=f"delivered {tag}"))
        contact_id, message_id = contact.id, message.id
    record_opt_in(rt, contact_id=contact_id, purpose="marketing", source=f"seed-{tag}", text=f"I agree ({tag})")
    return Shop(tag, shop_id, channel_id, contact_id, message_id, phone)


@pytest.fixture
def two_shops(runtime: Runtime) -> Iterator[TwoShops]:
    stack = start_stack(runtime)
    try:
        rt = stack.runtime
        shop_a = rt.connections.get_shop(stack.shop_id)
        channel_a = rt.connections.get_channel(stack.channel_id)
        shop_b = rt.connections.create_shop(
            name="Shop bravo", platform=shop_a.platform, settings=rt.connections.settings_of(shop_a)
        )
        channel_b = rt.connections.create_channel(
            shop_connection_id=shop_b.id,
            name="Number bravo",
            channel="whatsapp",
            settings=rt.connections.settings_of(channel_a),
        )
        a = _seed(rt, "alpha", stack.shop_id, stack.channel_id, "4915100000111")
        b = _seed(rt, "bravo", shop_b.id, channel_b.id, "4915100000222")
        yield TwoShops(stack, a, b, create_token(rt, "shop A", shop_connection_id=a.shop_id))
    finally:
        stop_stack(stack)


Fields = frozenset[str] | None  # the body's or query's documented fields; None: undocumented, send everything


def _fields(document: dict[str, Any], operation: dict[str, Any]) -> tuple[Fields, Fields]:
    """The request body's and the query's fields an operation of the OpenAPI document accepts (more is a 422)."""
    query = frozenset(p["name"] for p in operation.get("parameters", []) if p["in"] == "query")
    body: frozenset[str] = frozenset()
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if content:
        schema = content["schema"]
        if "$ref" in schema:
            schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        body = frozenset(schema.get("properties", {}))
    return body, query


def _operations(shops: TwoShops) -> dict[tuple[str, str], tuple[Fields, Fields]]:
    """Every ``(method, path template)`` of the OpenAPI document and of the app's ``/api/v1`` routes (the
    notifications API is not in the document), in the document's ``{param}`` style, with the fields it accepts."""
    document = requests.get(f"{shops.stack.url}/api/v1/openapi.json", timeout=30).json()
    documented = {
        (method.upper(), path): _fields(document, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in ("get", "post", "put", "patch", "delete")
    }
    routed = {
        (method, PARAM.sub(r"{\1}", rule.rule))
        for rule in shops.stack.server.app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1/") and rule.rule != "/api/v1/openapi.json"
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert set(documented) <= routed
    assert any(path.startswith("/api/v1/notifications") for _, path in routed - set(documented))
    return {operation: documented.get(operation, (None, None)) for operation in routed}


def _mentions(body: Any, shop: Shop) -> list[str]:
    """What of ``shop`` a response body shows: its tag or phone anywhere, or its ids under their keys."""
    found = [word for word in (shop.tag, shop.phone) if word in json.dumps(body)]
    ids = {"shop_connection_id": shop.shop_id, "channel_connection_id": shop.channel_id, "contact_id": shop.contact_id}

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            found.extend(f"{k}={v}" for k, v in value.items() if ids.get(k) == v and v is not None)
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(body)
    return found


def _body(shop: Shop, settings: dict[str, Any]) -> dict[str, Any]:
    """A request body valid for any admin API operation, naming ``shop``."""
    return {
        "shop_connection_id": shop.shop_id,
        "channel_connection_id": shop.channel_id,
        "segment_id": 999_999,
        "contact_id": shop.contact_id,
        "name": f"new {shop.tag}",
        "platform": "woocommerce",
        "channel": "whatsapp",
        "settings": settings,
        "mode": "full",
        "to": shop.phone,
        "text": "hello",
        "language": "en",
        "variant_external_id": f"var-{shop.tag}",
        "purpose": "marketing",
        "granted": False,
    }


def test_a_shop_token_gets_nothing_of_another_shop_from_any_operation(two_shops: TwoShops) -> None:
    b = two_shops.b
    rt = two_shops.stack.runtime
    # Campaigns and segments: ids that are not this token's (the walk adds none of its own).
    ids = {"message_id": b.message_id, "contact_id": b.contact_id, "campaign_id": 999_999, "segment_id": 999_999}
    body = _body(b, {})
    query = {"shop_connection_id": b.shop_id, "channel_connection_id": b.channel_id, "limit": 100}
    walked = 0
    for (method, template), (body_fields, query_fields) in sorted(_operations(two_shops).items()):
        kinds = {"shop": b.shop_id, "channel": b.channel_id}
        for kind, connection_id in kinds.items() if "{kind}" in template else [(None, None)]:
            path = template.replace("{kind}", kind or "").replace("{connection_id}", str(connection_id))
            path = re.sub(r"{(\w+)}", lambda m: str(ids[m.group(1)]), path)
            sent = {k: v for k, v in body.items() if body_fields is None or k in body_fields}
            params = {k: v for k, v in query.items() if query_fields is None or k in query_fields}
            response = two_shops.call(method, path, params=params, json=None if method == "GET" else sent)
            walked += 1
            where = f"{method} {path}: {response.status_code} {response.text[:300]}"
            payload = response.json() if response.content else None
            assert not _mentions(payload, b), where
            if "{" in template or method != "GET":
                assert response.status_code in (403, 404), where
            else:
                assert response.status_code in (200, 403), where
            if response.status_code == 403:
                assert "restricted to shop connection" in payload["message"], where
    assert walked >= 18

    # Shop B and what belongs to it are as they were.
    with rt.db.session() as session:
        assert session.get(ShopConnection, b.shop_id).name == "Shop bravo"
        assert session.get(ChannelConnection, b.channel_id).name == "Number bravo"
        assert session.scalar(select(func.count()).select_from(ShopConnection)) == 2
        assert session.scalar(select(func.count()).select_from(ChannelConnection)) == 2
        subscriptions = select(func.count()).where(BackInStockSubscription.shop_connection_id == b.shop_id)
        assert session.scalar(subscriptions) == 1
        consent = session.scalar(select(Consent).where(Consent.contact_id == b.contact_id))
        assert consent.granted
        assert session.scalar(select(func.count()).where(SyncRun.shop_connection_id == b.shop_id)) == 1


def test_global_operations_and_metrics_are_refused_with_a_reason(two_shops: TwoShops) -> None:
    created = two_shops.call("POST", "/api/v1/connections/shops", json=_body(two_shops.a, {}))
    assert created.status_code == 403
    assert "creating a shop connection needs a token for all shops" in created.json()["message"]
    plugins = two_shops.call("GET", "/api/v1/plugins/")
    assert plugins.status_code == 403 and "plugin administration" in plugins.json()["message"]
    metrics = two_shops.call("GET", "/metrics")
    assert metrics.status_code == 403 and "metrics span all shops" in metrics.json()["message"]
    assert "bravo" not in metrics.text


def test_a_shop_token_works_on_its_own_shop(two_shops: TwoShops) -> None:
    a, call = two_shops.a, two_shops.call
    rt = two_shops.stack.runtime

    listed = call("GET", "/api/v1/connections/").json()
    assert {(c["kind"], c["id"]) for c in listed} == {("shop", a.shop_id), ("channel", a.channel_id)}
    assert call("GET", f"/api/v1/connections/shop/{a.shop_id}").json()["id"] == a.shop_id
    renamed = call("PATCH", f"/api/v1/connections/shop/{a.shop_id}", json={"settings": {}, "name": "Shop alpha"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Shop alpha"
    tested = call("POST", f"/api/v1/connections/shop/{a.shop_id}/test").json()
    assert tested["ok"] is True, tested
    settings = rt.connections.settings_of(rt.connections.get_channel(a.channel_id))
    new_channel = {
        "shop_connection_id": a.shop_id,
        "name": "Second number",
        "channel": "whatsapp",
        "settings": settings,
    }
    channel = call("POST", "/api/v1/connections/channels", json=new_channel)
    assert channel.status_code == 201 and channel.json()["shop_connection_id"] == a.shop_id
    assert call("DELETE", f"/api/v1/connections/channel/{channel.json()['id']}").status_code == 204

    sync = call("POST", "/api/v1/sync-runs/", json={"shop_connection_id": a.shop_id, "mode": "delta"})
    assert sync.status_code == 202
    runs = call("GET", "/api/v1/sync-runs/").json()
    assert {r["shop_connection_id"] for r in runs} == {a.shop_id} and runs[-1]["trigger"] == "seed-alpha"
    items = call("GET", "/api/v1/catalog-items/").json()
    assert [i["retailer_id"] for i in items] == ["retailer-alpha"]
    events = {e["id"] for e in call("GET", "/api/v1/webhook-events/", params={"limit": 500}).json()}
    assert events == {e.id for e in _events_of_a(rt, a)} and len(events) >= 2

    notifications = call("GET", "/api/v1/notifications").json()["items"]
    assert [n["id"] for n in notifications] == [a.message_id]
    one = call("GET", f"/api/v1/notifications/{a.message_id}").json()
    assert one["timeline"][0]["detail"] == "delivered alpha"
    costs = call("GET", "/api/v1/notifications/costs").json()["items"]
    assert [(c["messages"], c["cost"]) for c in costs] == [(1, 0.05)]
    subscriptions = call("GET", "/api/v1/notifications/subscriptions").json()["items"]
    assert [s["variant_external_id"] for s in subscriptions] == ["var-alpha"]
    new = call(
        "POST",
        "/api/v1/notifications/subscriptions",
        json={"shop_connection_id": a.shop_id, "contact_id": a.contact_id, "variant_external_id": "var-alpha-2"},
    )
    assert new.status_code == 201, new.text
    consent = call("GET", f"/api/v1/notifications/consent/{a.contact_id}").json()
    assert consent["consent"]["marketing"]["granted"] is True
    revoked = call(
        "POST", f"/api/v1/notifications/consent/{a.contact_id}", json={"purpose": "marketing", "granted": False}
    )
    assert revoked.status_code == 200 and revoked.json()["consent"]["marketing"]["granted"] is False


def _events_of_a(rt: Runtime, a: Shop) -> list[WebhookEvent]:
    """Webhooks shop A's live connections received from the sandboxes while the stack ran."""
    with rt.db.session() as session:
        return list(
            session.scalars(
                select(WebhookEvent).where(
                    ((WebhookEvent.connection_kind == "shop") & (WebhookEvent.connection_id == a.shop_id))
                    | ((WebhookEvent.connection_kind == "channel") & (WebhookEvent.connection_id == a.channel_id))
                )
            )
        )


def test_shop_tokens_from_the_command_line(tmp_path: Path) -> None:
    assert connector("init", cwd=tmp_path).returncode == 0
    rt = Runtime(load_config(tmp_path / "connector.toml"))
    try:
        with rt.db.session() as session:
            shop = ShopConnection(name="Shop", platform="woocommerce", settings={})
            session.add(shop)
            session.flush()
            shop_id = shop.id
    finally:
        rt.close()
    made = connector("tokens", "create", "shop-bot", "--shop", str(shop_id), "--scope", "read", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    missing = connector("tokens", "create", "nowhere", "--shop", "999", cwd=tmp_path)
    assert missing.returncode == 2 and "no shop connection 999" in missing.stderr
    listed = {t["name"]: t for t in json.loads(connector("tokens", "list", "--json", cwd=tmp_path).stdout)}
    assert listed["shop-bot"]["shop_connection_id"] == shop_id
    assert listed["created by connector init"]["shop_connection_id"] is None
    assert "nowhere" not in listed


def test_deleting_a_shop_deletes_its_tokens_never_widens_them(runtime: Runtime, client: Any) -> None:
    with runtime.db.session() as session:
        shop = ShopConnection(name="Shop", platform="woocommerce", settings={})
        session.add(shop)
        session.flush()
        shop_id = shop.id
    headers = {"Authorization": f"Bearer {create_token(runtime, 'shop only', shop_connection_id=shop_id)}"}
    assert client.get("/api/v1/connections/", headers=headers).status_code == 200
    runtime.connections.delete("shop", shop_id)
    refused = client.get("/api/v1/connections/", headers=headers)
    assert refused.status_code == 401 and refused.json["message"] == "invalid token"
