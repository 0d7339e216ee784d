"""Webhook handshake, signatures and parsing of every event shape in the reference (§5 and its fixtures)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from connector_messenger.adapter import InstagramAdapter, MessengerAdapter
from connector_messenger.webhooks import WatermarkStatus
from connector_meta.signature import sign

from connector import model
from connector.adapters import WebhookRequest
from connector.errors import WebhookRejected

PAGE_ID = "111111"
IG_ID = "17841400000000001"
APP_SECRET = "app-secret"


@pytest.fixture
def messenger() -> MessengerAdapter:
    return MessengerAdapter(
        {"page_id": PAGE_ID, "page_access_token": "t", "app_secret": APP_SECRET, "verify_token": "verify-me"}
    )


@pytest.fixture
def instagram() -> InstagramAdapter:
    return InstagramAdapter(
        {"instagram_account_id": IG_ID, "page_access_token": "t", "app_secret": APP_SECRET, "verify_token": "verify-me"}
    )


def request(payload: Any, *, secret: str | None = APP_SECRET, method: str = "POST", query=None) -> WebhookRequest:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Hub-Signature-256"] = sign(body, secret)
    return WebhookRequest(
        method=method,
        url="https://connector.example/webhooks/messenger/1",
        headers=headers,
        query=query or {},
        body=body,
    )


def page(*events: dict[str, Any], entry_id: Any = PAGE_ID, obj: str = "page") -> dict[str, Any]:
    return {"object": obj, "entry": [{"id": entry_id, "time": 1502905976963, "messaging": list(events)}]}


def ig(*events: dict[str, Any]) -> dict[str, Any]:
    return page(*events, entry_id=IG_ID, obj="instagram")


def event(body: dict[str, Any], sender: str = "USER_ID", recipient: str = PAGE_ID, ts: int | None = 1502905976963):
    base: dict[str, Any] = {"sender": {"id": sender}, "recipient": {"id": recipient}}
    if ts is not None:
        base["timestamp"] = ts
    return {**base, **body}


def parse(adapter, payload) -> list[Any]:
    req = request(payload)
    adapter.verify_webhook(req)
    return adapter.parse_webhook(req).events


# --------------------------------------------------------------------------- handshake and signatures


def test_handshake_echoes_challenge_for_the_right_token(messenger: MessengerAdapter) -> None:
    query = {"hub.mode": "subscribe", "hub.verify_token": "verify-me", "hub.challenge": "1158201444"}
    reply = messenger.handshake(request(b"", method="GET", query=query, secret=None))
    assert (reply.status, reply.body) == (200, "1158201444")


def test_handshake_refuses_a_wrong_token(instagram: InstagramAdapter) -> None:
    query = {"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1"}
    reply = instagram.handshake(request(b"", method="GET", query=query, secret=None))
    assert reply.status == 403


def test_ordinary_delivery_is_no_handshake(messenger: MessengerAdapter) -> None:
    assert messenger.handshake(request(page())) is None


def test_forged_signature_is_rejected_with_401(messenger: MessengerAdapter) -> None:
    with pytest.raises(WebhookRejected) as error:
        messenger.verify_webhook(request(page(), secret="not-the-app-secret"))
    assert error.value.status == 401
    with pytest.raises(WebhookRejected) as missing:
        messenger.verify_webhook(request(page(), secret=None))
    assert missing.value.status == 401


def test_altered_body_is_rejected(messenger: MessengerAdapter) -> None:
    genuine = request(page(event({"message": {"mid": "m_1", "text": "hi"}})))
    tampered = WebhookRequest(
        genuine.method, genuine.url, genuine.headers, genuine.query, genuine.body.replace(b"hi", b"yo")
    )
    with pytest.raises(WebhookRejected):
        messenger.verify_webhook(tampered)


def test_redelivery_has_the_same_delivery_id(messenger: MessengerAdapter) -> None:
    payload = page(event({"message": {"mid": "m_1", "text": "hi"}}))
    first, again = messenger.parse_webhook(request(payload)), messenger.parse_webhook(request(payload))
    other = messenger.parse_webhook(request(page(event({"message": {"mid": "m_2", "text": "hi"}}))))
    assert first.delivery_id == again.delivery_id != other.delivery_id
    assert first.events[0].message_id == again.events[0].message_id == "m_1"


@pytest.mark.parametrize(
    "payload, reason",
    [
        (b"{not json", "not valid JSON"),
        ({"object": "page"}, "entry must be a list"),
        ({"object": "instagram", "entry": []}, "object is 'instagram'"),
        (page({"recipient": {"id": PAGE_ID}, "message": {"mid": "m", "text": "x"}}), "sender"),
        (page(event({"message": {"text": "no mid"}})), "mid is missing"),
        (page(event({"postback": {"title": "Buy"}})), "payload is missing"),
        ({"object": "page", "entry": [{"id": PAGE_ID, "messaging": {"not": "a list"}}]}, "must be a list"),
    ],
)
def test_malformed_webhooks_are_rejected_with_400(messenger: MessengerAdapter, payload, reason: str) -> None:
    with pytest.raises(WebhookRejected, match=reason) as error:
        messenger.parse_webhook(request(payload))
    assert error.value.status == 400


# --------------------------------------------------------------------------- Messenger events


def test_text_message_from_fixture(messenger: MessengerAdapter) -> None:
    # mseri/fbmessenger-api-hs test-files/wsTextMessageRequest.json
    payload = page(
        event(
            {"message": {"mid": "mid.1457764197618:41d102a3e1ae206a38", "seq": 73, "text": "hello, world!"}},
            ts=1457764197627,
        )
    )
    [msg] = parse(messenger, payload)
    assert isinstance(msg, model.InboundText)
    assert msg.text == "hello, world!"
    assert msg.sender == model.Contact(channel="messenger", channel_user_id="USER_ID")
    assert msg.timestamp == datetime(2016, 3, 12, 6, 29, 57, 627000, tzinfo=UTC)


def test_quick_reply_tap(messenger: MessengerAdapter) -> None:
    payload = page(
        event({"message": {"mid": "m_AG5Hz2Uq7tuwNEhXfYYKj8", "text": "M", "quick_reply": {"payload": "SIZE_M"}}})
    )
    [reply] = parse(messenger, payload)
    assert isinstance(reply, model.InboundReply)
    assert (reply.kind, reply.reply_id, reply.title, reply.message_id) == (
        "quick_reply",
        "SIZE_M",
        "M",
        "m_AG5Hz2Uq7tuwNEhXfYYKj8",
    )


def test_postback_with_mid(messenger: MessengerAdapter) -> None:
    payload = page(event({"postback": {"title": "Buy", "payload": "BUY:shop42-v9001", "mid": "m_postback1"}}))
    [reply] = parse(messenger, payload)
    assert (reply.kind, reply.reply_id, reply.title, reply.message_id) == (
        "postback",
        "BUY:shop42-v9001",
        "Buy",
        "m_postback1",
    )


def test_legacy_postback_without_mid_gets_a_stable_id(messenger: MessengerAdapter) -> None:
    # mseri/fbmessenger-api-hs test-files/wsPostbackRequest.json (before v11.0 there was no postback mid)
    payload = page(event({"postback": {"payload": "USER_DEFINED_PAYLOAD"}}, ts=1458692752478))
    [first] = parse(messenger, payload)
    [again] = parse(messenger, payload)
    assert first.reply_id == "USER_DEFINED_PAYLOAD"
    assert first.message_id == again.message_id == "postback:USER_ID:1458692752478"


def test_delivery_receipt_from_fixture(messenger: MessengerAdapter) -> None:
    # mseri/fbmessenger-api-hs test-files/wsDeliveryRequest.json: integer entry id, no timestamp
    payload = page(
        event(
            {"delivery": {"mids": ["mid.1458668856218:ed81099e15d3f4f233"], "watermark": 1458668856253, "seq": 37}},
            ts=None,
        ),
        entry_id=int(PAGE_ID),
    )
    [status] = parse(messenger, payload)
    assert status == model.DeliveryStatus(
        message_id="mid.1458668856218:ed81099e15d3f4f233", state=model.DeliveryState.DELIVERED, recipient_id="USER_ID"
    )


def test_messenger_read_is_a_watermark(messenger: MessengerAdapter) -> None:
    [status] = parse(messenger, page(event({"read": {"watermark": 1458668856253}})))
    assert isinstance(status, WatermarkStatus)
    assert status.state is model.DeliveryState.READ
    assert status.recipient_id == "USER_ID"
    assert status.watermark == datetime(2016, 3, 22, 17, 47, 36, 253000, tzinfo=UTC)


def test_echoes_are_ignored(messenger: MessengerAdapter) -> None:
    echo = event(
        {"message": {"is_echo": True, "app_id": 1517776481860111, "mid": "m_echo", "text": "Your order shipped"}},
        sender=PAGE_ID,
        recipient="USER_ID",
    )
    assert parse(messenger, page(echo)) == []


def test_reaction(messenger: MessengerAdapter) -> None:
    payload = page(event({"reaction": {"reaction": "love", "emoji": "\u2764", "action": "react", "mid": "m_sent1"}}))
    [other] = parse(messenger, payload)
    assert isinstance(other, model.InboundOther) and other.type == "reaction"


def test_referral_event(messenger: MessengerAdapter) -> None:
    payload = page(event({"referral": {"ref": "spring-sale", "source": "SHORTLINK", "type": "OPEN_THREAD"}}))
    [other] = parse(messenger, payload)
    assert other.type == "referral" and other.referral is not None
    assert (other.referral.ref, other.referral.source_type) == ("spring-sale", "SHORTLINK")


def test_entries_of_other_pages_and_standby_are_skipped(messenger: MessengerAdapter) -> None:
    other_page = page(event({"message": {"mid": "m_x", "text": "hi"}}), entry_id="999")
    standby = {
        "object": "page",
        "entry": [{"id": PAGE_ID, "time": 1, "standby": [event({"message": {"mid": "m_s", "text": "x"}})]}],
    }
    assert parse(messenger, other_page) == []
    assert parse(messenger, standby) == []


# --------------------------------------------------------------------------- Instagram events


@pytest.mark.parametrize(
    "kind",
    ["image", "video", "audio", "file", "reel", "ig_reel", "fallback", "share", "story_mention", "sticker"],
)
def test_instagram_attachment_types(instagram: InstagramAdapter, kind: str) -> None:
    payload = ig(
        event(
            {
                "message": {
                    "mid": f"aWdf_{kind}",
                    "attachments": [{"type": kind, "payload": {"url": "https://lookaside.example/x"}}],
                }
            },
            sender="IGSID1",
            recipient=IG_ID,
        )
    )
    [other] = parse(instagram, payload)
    assert isinstance(other, model.InboundOther)
    assert (other.type, other.message_id, other.sender.channel) == (kind, f"aWdf_{kind}", "instagram")


def test_instagram_quick_reply_and_reply_to(instagram: InstagramAdapter) -> None:
    payload = ig(
        event(
            {"message": {"mid": "aWdf_qr", "text": "L", "quick_reply": {"payload": "SIZE_L"}}},
            sender="IGSID1",
            recipient=IG_ID,
        ),
        event(
            {"message": {"mid": "aWdf_rt", "text": "and in blue?", "reply_to": {"mid": "aWdf_prev"}}},
            sender="IGSID1",
            recipient=IG_ID,
        ),
    )
    reply, text = parse(instagram, payload)
    assert (reply.kind, reply.reply_id) == ("quick_reply", "SIZE_L")
    assert isinstance(text, model.InboundText) and text.text == "and in blue?"


def test_instagram_seen_is_a_read_status(instagram: InstagramAdapter) -> None:
    [status] = parse(instagram, ig(event({"read": {"mid": "aWdf_sent"}}, sender="IGSID1", recipient=IG_ID)))
    assert (status.message_id, status.state, status.recipient_id) == ("aWdf_sent", model.DeliveryState.READ, "IGSID1")


def test_instagram_unsend_and_echo(instagram: InstagramAdapter) -> None:
    deleted = event({"message": {"mid": "aWdf_del", "is_deleted": True}}, sender="IGSID1", recipient=IG_ID)
    echo = event(
        {"message": {"mid": "aWdf_echo", "text": "Thanks!", "is_echo": True}}, sender=IG_ID, recipient="IGSID1"
    )
    [other] = parse(instagram, ig(deleted, echo))
    # The unsend has an id of its own: under the withdrawn message's mid it would be taken for its redelivery.
    assert (other.type, other.message_id) == ("deleted", "unsend:aWdf_del")
    assert isinstance(other, model.InboundUnsend) and other.original_message_id == "aWdf_del"


def test_instagram_shop_product_referral_is_kept(instagram: InstagramAdapter) -> None:
    product = event(
        {
            "message": {
                "mid": "aWdf_prod",
                "attachments": [{"type": "share", "payload": {"url": "https://x"}}],
                "referral": {"product": {"id": "shop42-v9001"}},
            }
        },
        sender="IGSID1",
        recipient=IG_ID,
    )
    [other] = parse(instagram, ig(product))
    assert other.referral is not None and other.referral.product_retailer_id == "shop42-v9001"
    assert other.referral.raw == {"product": {"id": "shop42-v9001"}}


def test_instagram_refuses_page_webhooks(instagram: InstagramAdapter) -> None:
    with pytest.raises(WebhookRejected) as error:
        instagram.parse_webhook(request(page(event({"message": {"mid": "m", "text": "x"}}))))
    assert error.value.status == 400
