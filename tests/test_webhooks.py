"""Webhooks over real HTTP: forged ones refused, valid ones stored once, redeliveries never processed twice."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket

import requests
from sqlalchemy import func, select

from connector.db.models import Contact, InboundMessage, Task, WebhookEvent
from tests.conftest import Stack, wait_for


def _events(stack: Stack, kind: str = "shop") -> list[WebhookEvent]:
    with stack.runtime.db.session() as session:
        return list(
            session.scalars(select(WebhookEvent).where(WebhookEvent.connection_kind == kind).order_by(WebhookEvent.id))
        )


def _process_tasks(stack: Stack) -> int:
    with stack.runtime.db.session() as session:
        return session.scalar(select(func.count()).select_from(Task).where(Task.kind == "webhook.process"))


def _replay(
    stack: Stack, event: WebhookEvent, *, body: bytes | None = None, headers: dict | None = None
) -> requests.Response:
    sent = {k: v for k, v in event.headers.items() if k.lower() not in ("host", "content-length")}
    sent.update(headers or {})
    return requests.post(event.url, data=event.body if body is None else body, headers=sent, timeout=10)


def test_stock_webhook_reaches_the_catalog_and_a_redelivery_is_not_processed_twice(stack: Stack) -> None:
    stack.full_sync()
    variant = next(v for v in stack.shop.variant_ids() if stack.catalog()[v]["availability"] == "in stock")
    stack.shop.set_stock(variant, 0)
    # Sold out reaches the WhatsApp catalog as "out of stock" (never dropped) within seconds.
    wait_for(lambda: stack.catalog()[variant]["availability"] == "out of stock")

    [event] = wait_for(lambda: [e for e in _events(stack) if e.status == "processed"])
    tasks_before = _process_tasks(stack)
    response = _replay(stack, event)
    assert response.status_code == 200
    assert response.json()["status"] == "duplicate"
    [again] = _events(stack)
    assert again.id == event.id and again.duplicates == 1
    assert _process_tasks(stack) == tasks_before  # nothing new to process


def test_forged_signature_is_refused_and_nothing_is_stored(stack: Stack) -> None:
    stack.full_sync()
    stack.shop.set_stock(stack.shop.variant_ids()[0], 3)
    [event] = wait_for(lambda: _events(stack))
    signature_header = next(k for k in event.headers if k.lower() == "x-wc-webhook-signature")

    forged = _replay(stack, event, headers={signature_header: base64.b64encode(b"0" * 32).decode()})
    assert forged.status_code == 401
    assert forged.json()["error"]

    tampered = _replay(stack, event, body=event.body.replace(b'"stock_quantity"', b'"stock_quantity_x"'))
    assert tampered.status_code == 401

    unsigned_headers = {k: v for k, v in event.headers.items() if k.lower() != "x-wc-webhook-signature"}
    unsigned = requests.post(
        event.url, data=event.body, headers={**unsigned_headers, "Content-Length": str(len(event.body))}, timeout=10
    )
    assert unsigned.status_code == 401
    assert len(_events(stack)) == 1


def test_malformed_body_with_a_valid_signature_gets_400_with_a_reason(stack: Stack) -> None:
    secret = stack.shop.connection_settings()["webhook_secret"]
    body = b'{"id": "not a product"'
    signature = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    response = requests.post(
        stack.shop_webhook_url(),
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-WC-Webhook-Signature": signature,
            "X-WC-Webhook-Topic": "product.updated",
            "X-WC-Webhook-Resource": "product",
            "X-WC-Webhook-Event": "updated",
            "X-WC-Webhook-Delivery-ID": "999",
            "X-WC-Webhook-ID": "1",
        },
        timeout=10,
    )
    assert response.status_code == 400
    assert response.json()["error"]
    assert _events(stack) == []


def test_unknown_plugin_or_connection_is_404(stack: Stack) -> None:
    assert requests.post(f"{stack.url}/webhooks/nope/1", data=b"{}", timeout=5).status_code == 404
    assert requests.post(f"{stack.url}/webhooks/woocommerce/999", data=b"{}", timeout=5).status_code == 404
    # The channel connection's id under the wrong plugin name.
    assert requests.post(f"{stack.url}/webhooks/messenger/{stack.channel_id}", data=b"{}", timeout=5).status_code == 404


def test_a_deleted_connection_refuses_webhooks_at_once(stack: Stack) -> None:
    # A delivery reads the connection, which is then kept for a moment; deleting it in this process ends that.
    token = stack.graph.connection_settings()["verify_token"]
    params = {"hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": "42"}
    assert requests.get(stack.channel_webhook_url(), params=params, timeout=5).status_code == 200
    stack.runtime.connections.delete("channel", stack.channel_id)
    assert requests.get(stack.channel_webhook_url(), params=params, timeout=5).status_code == 404


def test_deliveries_share_one_kept_alive_connection(stack: Stack) -> None:
    # Meta and the shops send webhooks over HTTP/1.1 connections they keep open: two requests, one socket.
    host, port = stack.url.removeprefix("http://").split(":")
    token = stack.graph.connection_settings()["verify_token"]
    path = f"/webhooks/whatsapp/{stack.channel_id}?hub.mode=subscribe&hub.verify_token={token}&hub.challenge="
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        stream = sock.makefile("rb")
        for challenge in ("1", "2"):
            sock.sendall(f"GET {path}{challenge} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            status = stream.readline()
            headers = {}
            while (line := stream.readline().strip()) != b"":
                name, _, value = line.decode().partition(":")
                headers[name.strip().lower()] = value.strip()
            body = stream.read(int(headers["content-length"]))
            assert (status.split()[1], body) == (b"200", challenge.encode())
            assert headers.get("connection", "").lower() != "close"


def test_whatsapp_verification_handshake(stack: Stack) -> None:
    token = stack.graph.connection_settings()["verify_token"]
    ok = requests.get(
        stack.channel_webhook_url(),
        params={"hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": "1158201444"},
        timeout=5,
    )
    assert (ok.status_code, ok.text) == (200, "1158201444")
    wrong = requests.get(
        stack.channel_webhook_url(),
        params={"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1"},
        timeout=5,
    )
    assert wrong.status_code == 403


def test_inbound_whatsapp_message_is_stored_once_however_it_is_redelivered(stack: Stack, hooks) -> None:
    settings = stack.graph.connection_settings()
    stack.graph.customer_text(settings["phone_number_id"], "4915112345678", "Hallo!", name="Erika")

    def carrying_the_message() -> list[WebhookEvent]:
        # The bot's replies bring status webhooks of their own: look only at deliveries of this message.
        return [e for e in _events(stack, "channel") if b"Hallo!" in e.body and e.status == "processed"]

    [event] = wait_for(carrying_the_message)
    assert wait_for(lambda: hooks.named("connector_inbound_message"))[0]["message"].text == "Hallo!"
    with stack.runtime.db.session() as session:
        contact = session.scalar(select(Contact))
        assert (contact.channel_user_id, contact.name) == ("4915112345678", "Erika")
        assert contact.last_inbound_at is not None

    # Same delivery again: acknowledged as a duplicate.
    assert _replay(stack, event).json()["status"] == "duplicate"
    # The same message in a differently serialised, correctly signed delivery (Meta may batch differently):
    # a new webhook event, but the message itself is not handled twice.
    body = json.dumps(json.loads(event.body), indent=1).encode()
    signature = "sha256=" + hmac.new(settings["app_secret"].encode(), body, hashlib.sha256).hexdigest()
    response = _replay(stack, event, body=body, headers={"X-Hub-Signature-256": signature})
    assert response.json()["status"] == "accepted"
    wait_for(lambda: len(carrying_the_message()) == 2)
    with stack.runtime.db.session() as session:
        assert session.scalar(select(func.count()).select_from(InboundMessage)) == 1
    assert len(hooks.named("connector_inbound_message")) == 1
