"""Fuzzing every adapter's webhook endpoint with correctly signed, mutated deliveries: never a 5xx, never a failed task.

Each test starts the whole product over real HTTP (shop sandbox -> connector -> Graph sandbox), makes the sandboxes
send their real webhooks (stock, price, orders, shipments; customer texts, carts, locations, referrals, delivery
statuses), and then replays those deliveries mutated by hypothesis, each signed with the platform's own scheme so it
passes verification and reaches the parser. Every answer must be below 500, and once the worker has processed what
was accepted, no task may have failed (a bad item is refused or skipped, never retried eight times).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
import requests
from connector_meta.signature import sign as meta_sign
from connector_shopify.webhooks import signature as shopify_sign
from connector_woocommerce.webhooks import sign as woocommerce_sign
from hypothesis import event, given
from hypothesis import strategies as st
from sqlalchemy import select

from connector.db.models import WebhookEvent
from connector.model import Address, Cart, CartLine, Customer
from connector.runtime import Runtime
from tests.conftest import Stack, start_stack, stop_stack, wait_for
from tests.fuzz.hostile import FUZZ_SETTINGS, mutated, poisoned

CUSTOMER = Customer(phone="+4915112345678", email="erika@example.com", first_name="Erika", last_name="M")
ADDRESS = Address(name="Erika Mustermann", line1="Hauptstrasse 1", postcode="10115", city="Berlin", country_code="DE")


@dataclass(frozen=True)
class Seed:
    """A delivery a sandbox really sent, as the connector stored it."""

    url: str
    headers: dict[str, str]
    payload: Any


def _seeds(rt: Runtime, adapters: set[str], at_least: int) -> list[Seed]:
    def stored() -> list[WebhookEvent] | None:
        with rt.db.session() as session:
            events = list(session.scalars(select(WebhookEvent).where(WebhookEvent.adapter.in_(adapters))))
        return events if len(events) >= at_least else None

    events = wait_for(stored)
    return [
        Seed(
            url=e.url,
            headers={k: v for k, v in e.headers.items() if k.lower() not in ("host", "content-length")},
            payload=json.loads(e.body),
        )
        for e in events
    ]


def _shop_activity(stack: Stack) -> None:
    """Stock and price changes, and an order that is shipped and delivered: each sends the shop's webhooks."""
    stack.full_sync()
    adapter = stack.runtime.connections.shop_adapter(stack.shop_id)
    variants = [v for v in adapter.iter_variants() if v.stock_quantity and v.published]
    stack.shop.set_stock(variants[0].external_id, 0)
    stack.shop.set_price(variants[1].external_id, Decimal("12.34"))
    order = adapter.create_order(Cart([CartLine(variants[2].external_id, 1)], "fuzz-order"), CUSTOMER, ADDRESS)
    stack.shop.ship_order(order.external_id, company="DHL", number="00340434161234567890")
    stack.shop.set_delivery_status(order.external_id, "delivered")


@pytest.fixture
def shop_stack(runtime: Runtime, request: pytest.FixtureRequest) -> Iterator[Stack]:
    stack = start_stack(runtime, shop=request.param)
    yield stack
    stop_stack(stack)


def _fuzz(stack: Stack, seeds: list[Seed], sign: Callable[[Seed, dict[str, Any], bytes], dict[str, str]]) -> None:
    """Send mutated, correctly signed copies of ``seeds``; then let the worker process what was accepted."""
    http = requests.Session()
    accepted: list[int] = []

    @FUZZ_SETTINGS
    @given(data=st.data())
    def deliver(data: st.DataObject) -> None:
        seed = data.draw(st.sampled_from(seeds))
        fresh = data.draw(st.uuids()).hex
        payload = json.loads(json.dumps(seed.payload))
        body = data.draw(mutated(payload))
        headers = {**seed.headers, **sign(seed, {"fresh": fresh}, body)}
        response = http.post(seed.url, data=body, headers=headers, timeout=30)
        event(f"HTTP {response.status_code}")  # the mix shows with --hypothesis-show-statistics
        assert response.status_code < 500, f"{response.status_code} for {body[:2000]!r}: {response.text[:500]}"
        if response.status_code == 200:
            accepted.append(1)

    deliver()
    assert accepted, "no mutated delivery was accepted: the fuzzer never reached the worker"
    problems = poisoned(stack.runtime)
    assert not problems, "\n".join(problems)


@pytest.mark.slow
@pytest.mark.parametrize("shop_stack", ["woocommerce"], indirect=True)
def test_woocommerce_webhooks_survive_hostile_payloads(shop_stack: Stack) -> None:
    _shop_activity(shop_stack)
    secret = shop_stack.shop.connection_settings()["webhook_secret"]
    seeds = _seeds(shop_stack.runtime, {"woocommerce"}, 4)
    _fuzz(shop_stack, seeds, lambda seed, _, body: {"X-WC-Webhook-Signature": woocommerce_sign(secret, body)})


@pytest.mark.slow
@pytest.mark.parametrize("shop_stack", ["shopify"], indirect=True)
def test_shopify_webhooks_survive_hostile_payloads(shop_stack: Stack) -> None:
    _shop_activity(shop_stack)
    secret = shop_stack.shop.connection_settings()["client_secret"]
    seeds = _seeds(shop_stack.runtime, {"shopify"}, 4)

    def sign(seed: Seed, fresh: dict[str, Any], body: bytes) -> dict[str, str]:
        # A new webhook id each time, as Shopify gives every delivery of a change: none is a mere duplicate.
        return {"X-Shopify-Hmac-Sha256": shopify_sign(body, secret), "X-Shopify-Webhook-Id": fresh["fresh"]}

    _fuzz(shop_stack, seeds, sign)


@pytest.mark.slow
@pytest.mark.parametrize("shop_stack", ["shopware"], indirect=True)
def test_shopware_webhooks_survive_hostile_payloads(shop_stack: Stack) -> None:
    import hashlib
    import hmac

    _shop_activity(shop_stack)
    secret = shop_stack.shop.connection_settings()["webhook_secret"]
    seeds = _seeds(shop_stack.runtime, {"shopware"}, 4)
    # Shopware's eventId repeats on a retry: give each seed a new one so the mutations are not duplicates.
    seeds = [Seed(s.url, s.headers, {**s.payload, "source": {**s.payload["source"], "eventId": None}}) for s in seeds]

    def sign(seed: Seed, fresh: dict[str, Any], body: bytes) -> dict[str, str]:
        return {"shopware-shop-signature": hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}

    _fuzz(shop_stack, seeds, sign)


def _meta_signer(app_secret: str) -> Callable[[Seed, dict[str, Any], bytes], dict[str, str]]:
    return lambda seed, _, body: {"X-Hub-Signature-256": meta_sign(body, app_secret)}


@pytest.mark.slow
def test_whatsapp_webhooks_survive_hostile_payloads(stack: Stack) -> None:
    stack.full_sync()
    graph = stack.graph
    settings = graph.connection_settings()
    number, customer = settings["phone_number_id"], "4915112345678"
    graph.customer_text(number, customer, "Hallo!", name="Erika")
    graph.customer_location(number, customer, 52.52, 13.405, name="Home", address="Hauptstrasse 1")
    graph.customer_cart(number, customer, [(stack.shop.variant_ids()[0], 2)], text="for my sister")
    seeds = _seeds(stack.runtime, {"whatsapp"}, 4)
    _fuzz(stack, seeds, _meta_signer(settings["app_secret"]))


def _meta_channel(stack: Stack, channel: str) -> int:
    """A Messenger or Instagram connection on the stack's shop, subscribed in the Graph sandbox."""
    s = stack.graph.connection_settings()
    account = (
        {"page_id": s["page_id"]} if channel == "messenger" else {"instagram_account_id": s["instagram_account_id"]}
    )
    row = stack.runtime.connections.create_channel(
        shop_connection_id=stack.shop_id,
        name=f"Test {channel}",
        channel=channel,
        settings={
            **account,
            "page_access_token": s["access_token"],
            "app_secret": s["app_secret"],
            "verify_token": s["verify_token"],
            "graph_url": s["graph_url"],
            "api_version": s["api_version"],
        },
    )
    stack.graph.subscribe_webhooks(
        stack.runtime.connections.webhook_url(channel, row.id),
        object="page" if channel == "messenger" else "instagram",
        verify_token=s["verify_token"],
    )
    return row.id


@pytest.mark.slow
def test_messenger_and_instagram_webhooks_survive_hostile_payloads(stack: Stack) -> None:
    stack.full_sync()
    _meta_channel(stack, "messenger")
    _meta_channel(stack, "instagram")
    graph = stack.graph
    graph.messenger_text("7001", "Hello", object="page")
    graph.messenger_referral("7001", {"ref": "summer", "source": "SHORTLINK", "type": "OPEN_THREAD"}, object="page")
    graph.messenger_choose("7001", "menu:browse", object="page", title="Browse")
    product = {"product": {"id": stack.shop.variant_ids()[0]}}
    graph.messenger_text("8001", "Is this in stock?", object="instagram", referral=product)
    seeds = _seeds(stack.runtime, {"messenger", "instagram"}, 4)
    _fuzz(stack, seeds, _meta_signer(graph.connection_settings()["app_secret"]))


@pytest.mark.slow
def test_the_meta_app_url_and_the_2026_payloads_survive_hostile_payloads(stack: Stack) -> None:
    """The app-level URL (one callback for every number, Page and Instagram account) with everything 2026 sends:
    captions, flow replies, number changes, shared contacts, hidden numbers, edits, unsends, read watermarks."""
    stack.full_sync()
    _meta_channel(stack, "messenger")
    _meta_channel(stack, "instagram")
    graph = stack.graph
    settings = graph.connection_settings()
    graph.subscribe_webhooks(stack.runtime.connections.meta_app_webhook_url(), verify_token=settings["verify_token"])
    customer = "4915112345679"
    graph.customer_text(None, customer, "Hallo!", name="Erika")
    graph.whatsapp_event(customer, "image", caption="in red?")
    graph.whatsapp_event(customer, "document", caption="invoice", filename="invoice.pdf")
    graph.whatsapp_event(customer, "flow_reply", response={"flow_token": "t-1", "zip": "10115"}, context_id="wamid.x")
    graph.whatsapp_event(customer, "contact_share", hide_phone=True)
    graph.whatsapp_event(customer, "number_change", new_wa_id="4915112345680")
    mid = graph.messenger_text("7002", "Hello", object="page")["message"]["mid"]
    graph.messenger_event("7002", "edit", mid=mid, text="Hello again")
    graph.messenger_event("7002", "read")
    ig_mid = graph.messenger_text("8002", "Hi", object="instagram")["message"]["mid"]
    graph.messenger_event("8002", "unsend", object="instagram", mid=ig_mid)
    seeds = _seeds(stack.runtime, {"whatsapp", "messenger", "instagram"}, 10)
    assert all(seed.url.endswith("/webhooks/meta") for seed in seeds)
    _fuzz(stack, seeds, _meta_signer(settings["app_secret"]))
