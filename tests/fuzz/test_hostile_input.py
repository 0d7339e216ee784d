"""The classes of hostile input the fuzzers found, each pinned by one correctly signed delivery over real HTTP:
refused with a 4xx and its reason, or accepted with the bad value dropped, and never a failed task."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import requests
from connector_meta.signature import sign as meta_sign
from connector_woocommerce.webhooks import sign as woocommerce_sign
from sqlalchemy import select

from connector.db.models import Contact, InboundMessage, WebhookEvent
from tests.conftest import Stack, wait_for
from tests.fuzz.hostile import poisoned


def _woocommerce(stack: Stack, payload: Any, topic: str = "product.updated", *, raw: bytes | None = None) -> Any:
    body = raw if raw is not None else json.dumps(payload).encode()
    secret = stack.shop.connection_settings()["webhook_secret"]
    return requests.post(
        stack.shop_webhook_url(),
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-WC-Webhook-Signature": woocommerce_sign(secret, body),
            "X-WC-Webhook-Topic": topic,
            "X-WC-Webhook-Resource": topic.split(".")[0],
            "X-WC-Webhook-Event": topic.split(".")[1],
            "X-WC-Webhook-Delivery-ID": uuid.uuid4().hex,
            "X-WC-Webhook-ID": "1",
        },
        timeout=10,
    )


def _whatsapp(stack: Stack, message: dict[str, Any], *, name: str = "Erika") -> Any:
    settings = stack.graph.connection_settings()
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "1",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"phone_number_id": settings["phone_number_id"]},
                            "contacts": [{"wa_id": "4915112345678", "profile": {"name": name}}],
                            "messages": [{"from": "4915112345678", "id": f"wamid.{uuid.uuid4().hex}", **message}],
                        },
                    }
                ],
            }
        ],
    }
    body = json.dumps(payload).encode()
    return requests.post(
        stack.channel_webhook_url(),
        data=body,
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": meta_sign(body, settings["app_secret"])},
        timeout=10,
    )


def _processed(stack: Stack, event_id: int) -> WebhookEvent:
    def done() -> WebhookEvent | None:
        with stack.runtime.db.session() as session:
            event = session.get(WebhookEvent, event_id)
        return event if event is not None and event.status != "received" else None

    return wait_for(done)


def test_json_nested_beyond_the_limit_is_refused_with_a_reason(quiet_stack: Stack) -> None:
    for depth in (100, 100_000):  # past the guard's limit; past the parser's recursion limit
        response = _woocommerce(quiet_stack, None, raw=b'{"id": 1, "x": ' + b"[" * depth + b"]" * depth + b"}")
        assert response.status_code == 400
        assert "nested deeper than 64 levels" in response.json()["error"]


def test_times_out_of_range_are_dropped_not_a_server_error(quiet_stack: Stack) -> None:
    # An ISO date that parses but overflows when taken to UTC: the product change still counts, without its time.
    variant = quiet_stack.shop.variant_ids()[0]
    response = _woocommerce(quiet_stack, {"id": int(variant), "date_modified_gmt": "0001-01-01T00:00:00+23:59"})
    assert response.status_code == 200, response.text
    assert _processed(quiet_stack, response.json()["id"]).status == "processed"
    # A message stamped in the year 3 billion: kept, received now.
    before = datetime.now(UTC)
    response = _whatsapp(quiet_stack, {"type": "text", "timestamp": "99999999999999999999", "text": {"body": "Hi"}})
    assert response.status_code == 200, response.text
    _processed(quiet_stack, response.json()["id"])
    with quiet_stack.runtime.db.session() as session:
        received = session.scalar(select(InboundMessage.received_at))
    assert received.replace(tzinfo=UTC) >= before.replace(microsecond=0)
    assert not poisoned(quiet_stack.runtime)


def test_lone_surrogates_are_stored_as_replacement_characters(quiet_stack: Stack) -> None:
    # "\ud800" alone is valid JSON; no UTF-8 database can store it.
    raw = json.dumps({"type": "text", "text": {"body": "x"}}).replace('"x"', '"caf\\ud800e"')
    response = _whatsapp(quiet_stack, json.loads(raw))
    assert response.status_code == 200, response.text
    assert _processed(quiet_stack, response.json()["id"]).status == "processed"
    with quiet_stack.runtime.db.session() as session:
        texts = [data["text"] for data in session.scalars(select(InboundMessage.data))]
    assert "caf\ufffde" in texts
    assert not poisoned(quiet_stack.runtime)


def test_ids_that_are_no_ids_are_refused_before_they_reach_a_sync(quiet_stack: Stack) -> None:
    # A variable product whose variation ids are lists, and one whose id needs more than 64 bits.
    response = _woocommerce(quiet_stack, {"id": 1, "type": "variable", "variations": [[1], {"a": 2}]})
    assert response.status_code == 400
    assert "variations[] is not a WooCommerce id" in response.json()["error"]
    response = _woocommerce(quiet_stack, {"id": 1, "type": "simple", "manage_stock": True, "stock_quantity": 10**20})
    assert response.status_code == 400
    assert "stock quantity" in response.json()["error"]
    with quiet_stack.runtime.db.session() as session:
        assert session.scalars(select(WebhookEvent)).all() == []


def test_a_webhook_naming_an_order_the_shop_no_longer_has_does_not_fail(quiet_stack: Stack) -> None:
    # WooCommerce's order.deleted carries only the id; the order is gone when the worker looks it up.
    response = _woocommerce(quiet_stack, {"id": 987654}, topic="order.deleted")
    assert response.status_code == 200, response.text
    assert _processed(quiet_stack, response.json()["id"]).status == "processed"
    assert not poisoned(quiet_stack.runtime)


def test_ids_longer_than_their_columns_are_refused_and_long_names_cut(quiet_stack: Stack) -> None:
    # PostgreSQL refuses a value longer than its column: the worker's task would fail on every retry.
    response = _whatsapp(quiet_stack, {"type": "text", "text": {"body": "Hi"}, "from": "4" * 40})
    assert response.status_code == 400
    assert "sender" in response.json()["error"]
    response = _whatsapp(quiet_stack, {"type": "text", "text": {"body": "Hi"}}, name="E" * 500)
    assert response.status_code == 200, response.text
    assert _processed(quiet_stack, response.json()["id"]).status == "processed"
    with quiet_stack.runtime.db.session() as session:
        assert session.scalar(select(Contact.name)) == "E" * 200
