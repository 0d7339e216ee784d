"""Webhooks from the Graph sandbox over real HTTP: the subscription handshake, every inbound type the sandbox's
customers can send, delivery statuses, redeliveries and forgeries."""

from __future__ import annotations

import pytest
import requests
from connector_meta.catalog import catalog_fields
from connector_whatsapp.adapter import WhatsAppAdapter

from connector import model
from connector.adapters import CatalogPush

CUSTOMER = "4915112345678"
CONTACT = model.Contact("whatsapp", CUSTOMER)


def inbound(sandbox, receiver, count: int = 1) -> list:
    sandbox.wait_webhooks()
    return receiver.wait_for(count)


def test_subscription_runs_metas_handshake(sandbox, adapter: WhatsAppAdapter, receiver) -> None:
    # The receiver fixture subscribed with the right verify token; a wrong one is refused with 403.
    with pytest.raises(requests.HTTPError):
        sandbox.subscribe_webhooks(
            receiver.server.url + "/hook", object="whatsapp_business_account", verify_token="wrong"
        )
    direct = requests.get(
        receiver.server.url + "/hook",
        params={"hub.mode": "subscribe", "hub.verify_token": adapter.settings["verify_token"], "hub.challenge": "42"},
        timeout=5,
    )
    assert (direct.status_code, direct.text) == (200, "42")


def test_customer_text_arrives_as_inbound_text(sandbox, receiver) -> None:
    wamid = sandbox.customer_text(None, CUSTOMER, "Hallo, habt ihr das in Blau?", name="Anna")
    (event,) = inbound(sandbox, receiver)
    assert isinstance(event, model.InboundText) and event.text == "Hallo, habt ihr das in Blau?"
    assert event.message_id == wamid
    assert (event.sender.channel_user_id, event.sender.phone, event.sender.name) == (CUSTOMER, "+" + CUSTOMER, "Anna")


def test_list_row_and_buttons_come_back_as_replies(sandbox, adapter: WhatsAppAdapter, receiver) -> None:
    sandbox.customer_text(None, CUSTOMER, "hi")
    listed = adapter.send(
        CONTACT, model.ListMessage("Size?", "Sizes", [model.ListSection("", [model.ListRow("size_m", "M")])])
    )
    buttons = adapter.send(CONTACT, model.ButtonsMessage("Change?", [model.Button("addr_change", "Change")]))
    sandbox.customer_pick_row(None, CUSTOMER, "size_m")
    sandbox.customer_press_button(None, CUSTOMER, "Change")
    # The sandbox delivers webhooks concurrently, as Meta does: the two replies may arrive in either order.
    events = inbound(sandbox, receiver, 3)
    [row] = [e for e in events if isinstance(e, model.InboundReply) and e.kind == "list"]
    [button] = [e for e in events if isinstance(e, model.InboundReply) and e.kind != "list"]
    assert isinstance(row, model.InboundReply) and (row.reply_id, row.title, row.kind) == ("size_m", "M", "list")
    assert row.context_message_id == listed.message_id
    assert (button.reply_id, button.kind, button.context_message_id) == ("addr_change", "button", buttons.message_id)


def test_template_quick_reply(sandbox, adapter: WhatsAppAdapter, receiver) -> None:
    sandbox.add_template(
        "stock_alert", "{{1}} is back.", buttons=[{"type": "QUICK_REPLY", "text": "Stop alerts"}], category="MARKETING"
    )
    sent = adapter.send(CONTACT, model.TemplateMessage("stock_alert", "en_US", ["Linen shirt"]))
    sandbox.customer_press_button(None, CUSTOMER, "Stop alerts")
    (event,) = inbound(sandbox, receiver)
    assert isinstance(event, model.InboundReply) and event.kind == "template_button"
    assert (event.reply_id, event.title, event.context_message_id) == ("Stop alerts", "Stop alerts", sent.message_id)


def test_cart_arrives_with_catalog_prices(sandbox, adapter: WhatsAppAdapter, receiver) -> None:
    publisher = adapter.catalog()
    variant = model.Variant(
        "sku-1",
        "p-1",
        "Linen shirt",
        model.Money("49.90", "EUR"),
        model.Availability.IN_STOCK,
        link="https://s.example/p/1",
        image_url="https://s.example/1.jpg",
        description="Linen",
    )
    assert publisher.push([CatalogPush("sku-1", "UPDATE", catalog_fields(variant))]).handle
    sandbox.customer_cart(None, CUSTOMER, {"sku-1": 2}, text="Bitte schnell")
    (cart,) = inbound(sandbox, receiver)
    assert isinstance(cart, model.InboundCart) and cart.catalog_id == publisher.catalog_id
    assert [(line.variant_external_id, line.quantity, line.unit_price) for line in cart.lines] == [
        ("sku-1", 2, model.Money("49.90", "EUR"))
    ]
    assert cart.text == "Bitte schnell"


def test_location(sandbox, receiver) -> None:
    sandbox.customer_location(None, CUSTOMER, 52.52, 13.405, name="Alexanderplatz", address="Berlin")
    (event,) = inbound(sandbox, receiver)
    assert isinstance(event, model.InboundLocation) and (event.latitude, event.longitude, event.name) == (
        52.52,
        13.405,
        "Alexanderplatz",
    )


def test_delivery_statuses_follow_a_send(sandbox, adapter: WhatsAppAdapter, receiver) -> None:
    sandbox.set_options(status_flow=["sent", "delivered", "read"])
    sent = adapter.send(CONTACT, model.TemplateMessage("hello_world", "en_US"))
    statuses = inbound(sandbox, receiver, 3)
    # In whatever order they arrive (Meta delivers concurrently): all three, for that message.
    assert sorted((s.message_id, s.state.rank) for s in statuses) == [
        (sent.message_id, model.DeliveryState.SENT.rank),
        (sent.message_id, model.DeliveryState.DELIVERED.rank),
        (sent.message_id, model.DeliveryState.READ.rank),
    ]
    assert all(s.recipient_id == CUSTOMER for s in statuses)
    assert statuses[0].pricing and statuses[0].pricing["category"] == "utility"


def test_failed_status_carries_the_error(sandbox, adapter: WhatsAppAdapter, receiver) -> None:
    sandbox.set_options(status_flow=["sent", "delivered"], failing_recipients=[CUSTOMER])
    sent = adapter.send(CONTACT, model.TemplateMessage("hello_world", "en_US"))
    sandbox.wait_webhooks()
    failed = [s for s in receiver.wait_for(2) if s.state is model.DeliveryState.FAILED]
    assert failed and failed[0].message_id == sent.message_id
    assert failed[0].errors and failed[0].errors[0]["code"] == 131026


def test_redelivery_has_the_same_delivery_id_and_message_id(sandbox, receiver) -> None:
    sandbox.customer_text(None, CUSTOMER, "once")
    inbound(sandbox, receiver)
    original = receiver.raw[0]
    again = requests.post(receiver.server.url + "/hook", data=original.body, headers=dict(original.headers), timeout=5)
    assert again.status_code == 200
    first, second = receiver.parsed[0], receiver.parsed[1]
    assert first.delivery_id == second.delivery_id
    assert [e.message_id for e in first.events] == [e.message_id for e in second.events]


def test_forged_webhook_is_refused_with_401(sandbox, receiver) -> None:
    sandbox.customer_text(None, CUSTOMER, "real")
    inbound(sandbox, receiver)
    original = receiver.raw[0]
    tampered = original.body.replace(b"real", b"fake")
    answer = requests.post(receiver.server.url + "/hook", data=tampered, headers=dict(original.headers), timeout=5)
    assert answer.status_code == 401
    unsigned = requests.post(
        receiver.server.url + "/hook", data=original.body, headers={"Content-Type": "application/json"}, timeout=5
    )
    assert unsigned.status_code == 401
    assert len(receiver.parsed) == 1 and [r.status for r in receiver.rejected] == [401, 401]
