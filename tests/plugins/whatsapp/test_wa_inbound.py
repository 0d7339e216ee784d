"""Webhook parsing of the reference's sample payloads (whatsapp-cloud-api.md §8-9, fixtures listed in §13)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from connector_meta.signature import sign
from connector_whatsapp.adapter import WhatsAppAdapter
from werkzeug.datastructures import Headers

from connector import model
from connector.adapters import WebhookRequest
from connector.errors import WebhookRejected

SETTINGS = {
    "phone_number_id": "1122334455667",
    "access_token": "token",
    "app_secret": "app-secret",
    "verify_token": "verify-me",
    "catalog_id": "354160437058781",
}
CONTACT = {"profile": {"name": "Test Name"}, "wa_id": "972987654321"}


def envelope(*, messages=None, statuses=None, contacts=None, field="messages") -> dict:
    value: dict = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "972123456789", "phone_number_id": "1122334455667"},
    }
    if contacts is not None:
        value["contacts"] = contacts
    if messages is not None:
        value["messages"] = messages
    if statuses is not None:
        value["statuses"] = statuses
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1234567890987654321", "changes": [{"value": value, "field": field}]}],
    }


def message(kind: str, content: dict | None = None, **extra) -> dict:
    msg = {"from": "972987654321", "id": f"wamid.{kind}", "timestamp": "1697043223", "type": kind, **extra}
    if content is not None:
        msg[kind] = content
    return msg


def request(payload: dict | bytes, *, secret: str = "app-secret") -> WebhookRequest:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return WebhookRequest(
        "POST", "http://c/webhooks/whatsapp/1", Headers({"X-Hub-Signature-256": sign(body, secret)}), {}, body
    )


@pytest.fixture
def adapter() -> WhatsAppAdapter:
    return WhatsAppAdapter(SETTINGS)


def parse_one(adapter: WhatsAppAdapter, msg: dict, contacts=None) -> list:
    req = request(envelope(messages=[msg], contacts=[CONTACT] if contacts is None else contacts))
    adapter.verify_webhook(req)
    return adapter.parse_webhook(req).events


def test_text(adapter) -> None:
    (event,) = parse_one(adapter, message("text", {"body": "Body Text"}))
    assert isinstance(event, model.InboundText) and event.text == "Body Text"
    assert event.message_id == "wamid.text" and event.timestamp is not None and event.timestamp.year == 2023
    assert event.sender == model.Contact("whatsapp", "972987654321", phone="+972987654321", name="Test Name")


def test_button_reply_and_list_reply(adapter) -> None:
    (button,) = parse_one(
        adapter,
        message(
            "interactive",
            {"type": "button_reply", "button_reply": {"id": "addr_change", "title": "Change"}},
            context={"from": "972123456789", "id": "wamid.sent"},
        ),
    )
    assert isinstance(button, model.InboundReply)
    assert (button.reply_id, button.title, button.kind, button.context_message_id) == (
        "addr_change",
        "Change",
        "button",
        "wamid.sent",
    )
    (row,) = parse_one(
        adapter,
        message(
            "interactive", {"type": "list_reply", "list_reply": {"id": "row1", "title": "M", "description": "Medium"}}
        ),
    )
    assert isinstance(row, model.InboundReply) and (row.reply_id, row.kind) == ("row1", "list")


def test_template_quick_reply_button(adapter) -> None:
    (event,) = parse_one(
        adapter, message("button", {"payload": "STOP", "text": "Stop promotions"}, context={"id": "wamid.tpl"})
    )
    assert isinstance(event, model.InboundReply)
    assert (event.reply_id, event.title, event.kind, event.context_message_id) == (
        "STOP",
        "Stop promotions",
        "template_button",
        "wamid.tpl",
    )


def test_order_with_numbers_strings_and_missing_text(adapter) -> None:
    order = {
        "catalog_id": "354160437058781",
        "text": "Please deliver after 5",
        "product_items": [
            {"product_retailer_id": "SKU1", "quantity": 2, "item_price": 30, "currency": "ILS"},
            {"product_retailer_id": "SKU2", "quantity": "1", "item_price": "12.5", "currency": "ILS"},
        ],
    }
    (cart,) = parse_one(adapter, message("order", order))
    assert isinstance(cart, model.InboundCart)
    assert cart.catalog_id == "354160437058781" and cart.text == "Please deliver after 5"
    assert [(line.variant_external_id, line.quantity, line.unit_price) for line in cart.lines] == [
        ("SKU1", 2, model.Money(Decimal(30), "ILS")),
        ("SKU2", 1, model.Money(Decimal("12.5"), "ILS")),
    ]
    del order["text"]  # kairon fixture: no text at all
    (cart,) = parse_one(adapter, message("order", order))
    assert cart.text == ""


def test_location(adapter) -> None:
    loc = {
        "latitude": 37.4611978,
        "longitude": -122.2164385,
        "name": "Facebook HQ",
        "address": "1 Hacker Way, Menlo Park, CA 94025",
    }
    (event,) = parse_one(adapter, message("location", loc))
    assert isinstance(event, model.InboundLocation)
    assert (event.latitude, event.longitude, event.name) == (37.4611978, -122.2164385, "Facebook HQ")


@pytest.mark.parametrize(
    ("kind", "content", "expected"),
    [
        ("image", {"mime_type": "image/jpeg", "sha256": "4654+8g=", "id": "65463453"}, "image"),
        ("audio", {"mime_type": "audio/ogg; codecs=opus", "id": "1", "voice": True}, "audio"),
        ("sticker", {"mime_type": "image/webp", "id": "1", "animated": False}, "sticker"),
        ("reaction", {"message_id": "wamid.yzxyzx=", "emoji": "\U0001f62e"}, "reaction"),
        ("document", {"filename": "filename.pdf", "mime_type": "application/pdf", "id": "1"}, "document"),
        (
            "interactive",
            {"type": "nfm_reply", "nfm_reply": {"response_json": "{}", "name": "flow"}},
            "interactive.nfm_reply",
        ),
        ("system", {"body": "changed number", "type": "user_changed_number"}, "system"),
    ],
)
def test_other_types_are_kept_not_lost(adapter, kind, content, expected) -> None:
    (event,) = parse_one(adapter, message(kind, content))
    assert isinstance(event, model.InboundOther) and event.type == expected and event.message_id == f"wamid.{kind}"


def test_unsupported_message_with_errors(adapter) -> None:
    msg = message(
        "unsupported",
        errors=[
            {
                "code": 131051,
                "title": "Message type unknown",
                "error_data": {"details": "Message type is currently not supported."},
            }
        ],
    )
    (event,) = parse_one(adapter, msg)
    assert isinstance(event, model.InboundOther) and event.type == "unsupported"


def test_click_to_whatsapp_referral_is_kept_on_the_message(adapter) -> None:
    referral = {
        "source_url": "https://fb.me/ad",
        "source_id": "120",
        "source_type": "ad",
        "headline": "Sale",
        "body": "50%",
        "media_type": "image",
        "image_url": "https://x/i.jpg",
        "ctwa_clid": "ARAk",
    }
    typed = model.Referral(
        source_type="ad",
        source_id="120",
        source_url="https://fb.me/ad",
        headline="Sale",
        body="50%",
        ad_click_id="ARAk",
        raw=referral,
    )
    # one event per message: the referral rides on it (no companion event that would get its own answer)
    (text,) = parse_one(adapter, message("text", {"body": "Is this available?"}, referral=referral))
    assert isinstance(text, model.InboundText) and text.text == "Is this available?"
    assert text.message_id == "wamid.text" and text.referral == typed
    (image,) = parse_one(adapter, message("image", {"id": "1"}, referral=referral))
    assert isinstance(image, model.InboundOther) and image.referral == typed
    (plain,) = parse_one(adapter, message("text", {"body": "hi"}))
    assert plain.referral is None


def test_referred_product_question_names_the_product(adapter) -> None:
    ctx = {
        "from": "972123456789",
        "id": "wamid.x",
        "referred_product": {"catalog_id": "354160437058781", "product_retailer_id": "SKU1"},
    }
    (text,) = parse_one(adapter, message("text", {"body": "In blue?"}, context=ctx))
    assert isinstance(text, model.InboundText) and text.text == "In blue?"
    assert text.referral == model.Referral(
        source_type="product",
        product_retailer_id="SKU1",
        catalog_id="354160437058781",
        raw={"referred_product": {"catalog_id": "354160437058781", "product_retailer_id": "SKU1"}},
    )


def test_a_malformed_referral_is_refused(adapter) -> None:
    with pytest.raises(WebhookRejected) as refused:
        parse_one(adapter, message("text", {"body": "x"}, referral="ad"))
    assert refused.value.status == 400 and "referral" in refused.value.reason


def test_an_old_companion_row_still_loads_with_a_typed_referral() -> None:
    """Rows stored before referrals were typed hold the raw dict on ``InboundOther``; they load as ``Referral``."""
    from connector.serialization import from_json, to_json

    raw = {
        "source_type": "ad",
        "source_id": "120",
        "ctwa_clid": "ARAk",
        "referred_product": {"product_retailer_id": "7"},
    }
    old = {
        "__type__": "InboundOther",
        "message_id": "wamid.1#referral",
        "sender": {"__type__": "Contact", "channel": "whatsapp", "channel_user_id": "49151"},
        "timestamp": "2026-01-02T03:04:05+00:00",
        "type": "referral",
        "referral": raw,
    }
    loaded = from_json(old)
    assert isinstance(loaded, model.InboundOther) and loaded.type == "referral"
    assert loaded.referral == model.Referral(
        source_type="ad", source_id="120", ad_click_id="ARAk", product_retailer_id="7", raw=raw
    )
    assert from_json(to_json(loaded)) == loaded  # and round-trips in the new shape
    text = {"__type__": "InboundText", "message_id": "m", "sender": old["sender"], "text": "hi"}
    assert from_json(text).referral is None  # old rows without the field


def test_business_scoped_user_id_when_the_phone_is_hidden(adapter) -> None:
    msg = {
        "from_user_id": "US.13491208655302741918",
        "id": "wamid.bsuid",
        "timestamp": "1697043223",
        "type": "text",
        "text": {"body": "hi"},
    }
    contacts = [{"profile": {"name": "Uma"}, "user_id": "US.13491208655302741918", "parent_user_id": "US.ENT.1"}]
    (event,) = parse_one(adapter, msg, contacts=contacts)
    assert event.sender.channel_user_id == "US.13491208655302741918"
    assert event.sender.phone is None and event.sender.name == "Uma"


def test_statuses_with_pmp_pricing_cbp_conversation_and_errors(adapter) -> None:
    statuses = [
        {
            "id": "wamid.1",
            "status": "sent",
            "timestamp": "1750000000",
            "recipient_id": "4915112345678",
            "pricing": {"billable": True, "pricing_model": "PMP", "type": "regular", "category": "utility"},
        },
        {
            "id": "wamid.1",
            "status": "delivered",
            "timestamp": "1750000001",
            "recipient_id": "4915112345678",
            "conversation": {"id": "c1", "origin": {"type": "service"}},
            "pricing": {"billable": False, "pricing_model": "CBP", "category": "service"},
        },
        {"id": "wamid.1", "status": "read", "timestamp": "1750000002", "recipient_user_id": "US.1"},
        {
            "id": "wamid.2",
            "status": "failed",
            "timestamp": "1750000003",
            "recipient_id": "4915112345678",
            "errors": [
                {
                    "code": 131047,
                    "title": "Re-engagement message",
                    "message": "Re-engagement message",
                    "error_data": {"details": "Message failed to send because more than 24 hours have passed"},
                }
            ],
        },
        {"id": "wamid.3", "status": "played", "timestamp": "1750000004", "recipient_id": "4915112345678"},
    ]
    req = request(envelope(statuses=statuses))
    parsed = adapter.parse_webhook(req)
    states = [(s.message_id, s.state) for s in parsed.events]
    assert states == [
        ("wamid.1", model.DeliveryState.SENT),
        ("wamid.1", model.DeliveryState.DELIVERED),
        ("wamid.1", model.DeliveryState.READ),
        ("wamid.2", model.DeliveryState.FAILED),
    ]
    sent, delivered, read, failed = parsed.events
    assert sent.pricing["pricing_model"] == "PMP" and sent.pricing["category"] == "utility"
    assert delivered.conversation == {"id": "c1", "origin": {"type": "service"}}
    assert read.recipient_id == "US.1"
    assert failed.errors[0]["code"] == 131047
    assert parsed.topic == "messages"


def test_batched_delivery_yields_every_message_and_a_stable_delivery_id(adapter) -> None:
    payload = envelope(
        messages=[message("text", {"body": "a"}), message("location", {"latitude": 1, "longitude": 2})],
        contacts=[CONTACT],
    )
    payload["entry"].append(
        envelope(statuses=[{"id": "wamid.9", "status": "sent", "timestamp": "1", "recipient_id": "1"}])["entry"][0]
    )
    body = json.dumps(payload).encode()
    first, again = adapter.parse_webhook(request(body)), adapter.parse_webhook(request(body))
    assert len(first.events) == 3
    assert first.delivery_id == again.delivery_id  # a redelivery is recognised
    assert adapter.parse_webhook(request(body + b" ")).delivery_id != first.delivery_id


def test_other_fields_parse_to_no_events(adapter) -> None:
    payload = envelope(field="message_template_status_update")
    parsed = adapter.parse_webhook(request(payload))
    assert parsed.events == [] and parsed.topic == "message_template_status_update"


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        json.dumps({"object": "page", "entry": []}).encode(),
        json.dumps({"object": "whatsapp_business_account"}).encode(),
        json.dumps({"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages"}]}]}).encode(),
        json.dumps(envelope(messages=[{"from": "1", "type": "text"}])).encode(),
        json.dumps(envelope(messages=[{"id": "wamid.x", "type": "text", "text": {"body": "no sender"}}])).encode(),
        json.dumps(
            envelope(messages=[message("order", {"catalog_id": "1", "product_items": []})], contacts=[CONTACT])
        ).encode(),
        json.dumps(envelope(messages=[message("location", {"latitude": "north"})], contacts=[CONTACT])).encode(),
        json.dumps(envelope(statuses=[{"id": "wamid.1", "status": "sent"}])).encode(),
    ],
)
def test_malformed_payloads_are_rejected_with_400(adapter, body: bytes) -> None:
    req = request(body)
    adapter.verify_webhook(req)  # correctly signed, still malformed
    with pytest.raises(WebhookRejected) as caught:
        adapter.parse_webhook(req)
    assert caught.value.status == 400


def test_forged_webhooks_are_rejected_with_401(adapter) -> None:
    body = json.dumps(envelope(messages=[message("text", {"body": "hi"})], contacts=[CONTACT])).encode()
    for req in (
        request(body, secret="attacker"),
        WebhookRequest("POST", "http://c/h", Headers({}), {}, body),
        WebhookRequest(
            "POST",
            "http://c/h",
            Headers({"X-Hub-Signature-256": sign(body, "app-secret")}),
            {},
            body.replace(b"hi", b"ho"),
        ),
    ):
        with pytest.raises(WebhookRejected) as caught:
            adapter.verify_webhook(req)
        assert caught.value.status == 401


def test_handshake(adapter) -> None:
    good = {"hub.mode": "subscribe", "hub.challenge": "1158201444", "hub.verify_token": "verify-me"}
    reply = adapter.handshake(WebhookRequest("GET", "http://c/h", Headers({}), good, b""))
    assert reply is not None and (reply.status, reply.body) == (200, "1158201444")
    bad = adapter.handshake(WebhookRequest("GET", "http://c/h", Headers({}), {**good, "hub.verify_token": "x"}, b""))
    assert bad is not None and bad.status == 403
    assert adapter.handshake(request(envelope(messages=[]))) is None
