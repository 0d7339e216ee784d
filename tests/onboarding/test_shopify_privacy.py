"""Shopify's mandatory compliance webhooks and app/uninstalled, from the sandbox through the real web app and worker:
redact erases with the GDPR code, forged ones are refused, uninstalling disables the connection and says so."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from sqlalchemy import select

from connector.db.models import Contact, ShopConnection, WebhookEvent
from connector.runtime import Runtime
from tests.conftest import Stack, start_stack, stop_stack, wait_for

from .conftest import EMAIL, PASSWORD, csrf_of


@pytest.fixture
def stack(runtime: Runtime) -> Iterator[Stack]:
    s = start_stack(runtime, "shopify")
    # The app's compliance webhooks point at the connection's webhook address (Dev Dashboard app configuration).
    s.shop.configure_app(compliance_url=s.shop_webhook_url())
    yield s
    stop_stack(s)


def add_contact(rt: Runtime, channel_id: int, phone: str) -> int:
    with rt.db.session() as session:
        contact = Contact(channel_connection_id=channel_id, channel_user_id=phone.lstrip("+"), phone=phone)
        session.add(contact)
        session.flush()
        return contact.id


def contact_ids(rt: Runtime) -> set[int]:
    with rt.db.session() as session:
        return set(session.scalars(select(Contact.id)))


def processed(rt: Runtime, topic: str) -> list[WebhookEvent]:
    with rt.db.session() as session:
        return list(
            session.scalars(select(WebhookEvent).where(WebhookEvent.topic == topic, WebhookEvent.status == "processed"))
        )


def test_customers_redact_erases_that_customer_only(stack: Stack) -> None:
    rt = stack.runtime
    gone = add_contact(rt, stack.channel_id, "+4915112345678")
    kept = add_contact(rt, stack.channel_id, "+4915198765432")
    stack.shop.send_compliance(
        "customers/redact", customer={"id": 191167, "email": "a@example.com", "phone": "+49 151 12345678"}
    )
    wait_for(lambda: processed(rt, "customers/redact"), timeout=60)
    assert contact_ids(rt) == {kept} and gone not in contact_ids(rt)


def test_data_request_keeps_the_data_and_shop_redact_erases_every_contact(stack: Stack) -> None:
    rt = stack.runtime
    add_contact(rt, stack.channel_id, "+4915112345678")
    add_contact(rt, stack.channel_id, "+4915198765432")
    stack.shop.send_compliance("customers/data_request", customer={"id": 1, "phone": "+4915112345678"})
    wait_for(lambda: processed(rt, "customers/data_request"), timeout=60)
    assert len(contact_ids(rt)) == 2
    stack.shop.send_compliance("shop/redact")
    wait_for(lambda: processed(rt, "shop/redact"), timeout=60)
    assert contact_ids(rt) == set()


def test_a_forged_compliance_webhook_is_refused_with_401(stack: Stack) -> None:
    rt = stack.runtime
    add_contact(rt, stack.channel_id, "+4915112345678")
    response = requests.post(
        stack.shop_webhook_url(),
        data=b'{"shop_id":1,"shop_domain":"chatshop-sandbox.myshopify.com"}',
        headers={
            "Content-Type": "application/json",
            "X-Shopify-Topic": "shop/redact",
            "X-Shopify-Hmac-Sha256": "Zm9yZ2Vk",
            "X-Shopify-Webhook-Id": "forged-1",
        },
        timeout=30,
    )
    assert response.status_code == 401
    assert len(contact_ids(rt)) == 1


def test_uninstalling_disables_the_connection_and_the_dashboard_says_so(stack: Stack) -> None:
    rt = stack.runtime
    stack.shop.uninstall()

    def disabled() -> bool:
        with rt.db.session() as session:
            row = session.get(ShopConnection, stack.shop_id)
            return row is not None and not row.enabled and bool(row.status_note)

    wait_for(disabled, timeout=60)
    from connector.dashboard.users import create_user

    create_user(rt, EMAIL, PASSWORD)
    client: Any = stack.server.app.test_client()
    token = csrf_of(client.get("/dashboard/login").text)
    client.post("/dashboard/login", data={"csrf_token": token, "email": EMAIL, "password": PASSWORD})
    page = client.get("/dashboard/plugins").text
    assert "The app was uninstalled from the shop" in page
    assert "uninstalled" in client.get("/dashboard/setup/shop").text
