"""Signed webhooks back to the connector: status flows, inbound customer messages, the verification handshake."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask, request

from connector.sandbox.server import SandboxServer

CUSTOMER = "4915112345678"
TEMPLATE = {"type": "template", "template": {"name": "hello_world", "language": {"code": "en_US"}}}


def _statuses(graph, requests_) -> list[dict]:
    found = []
    for captured in requests_:
        body = graph.signed(captured)
        for entry in body["entry"]:
            for change in entry["changes"]:
                found.extend(change["value"].get("statuses", []))
    return found


def test_accepted_message_gets_signed_sent_delivered_read(graph, sandbox, recorder):
    sandbox.subscribe_webhooks(recorder.url + "/hook", object="whatsapp_business_account")
    wamid = graph.send_whatsapp(TEMPLATE).json()["messages"][0]["id"]
    captured = recorder.wait_for(3)
    body = graph.signed(captured[0])
    assert body["object"] == "whatsapp_business_account"
    entry = body["entry"][0]
    assert entry["id"] == graph.settings["waba_id"]
    value = entry["changes"][0]["value"]
    assert entry["changes"][0]["field"] == "messages" and value["messaging_product"] == "whatsapp"
    assert value["metadata"]["phone_number_id"] == graph.settings["phone_number_id"]
    statuses = _statuses(graph, captured)
    assert [s["status"] for s in statuses] == ["sent", "delivered", "read"]
    assert {s["id"] for s in statuses} == {wamid} and statuses[0]["recipient_id"] == CUSTOMER
    assert statuses[0]["pricing"] == {
        "billable": True,
        "pricing_model": "PMP",
        "type": "regular",
        "category": "utility",
    }
    # v24.0+: no ``conversation`` object any more, except for messages inside a free entry point.
    assert "conversation" not in statuses[0]


def test_service_reply_is_billed_and_statuses_can_come_out_of_order(graph, sandbox, recorder):
    sandbox.subscribe_webhooks(recorder.url + "/hook")
    sandbox.customer_text(None, CUSTOMER, "hi")
    recorder.wait_for(1)
    recorder.clear()
    sandbox.set_options(status_out_of_order=True)
    graph.send_whatsapp({"type": "text", "text": {"body": "Hello!"}})
    statuses = _statuses(graph, recorder.wait_for(3))
    assert sorted(s["status"] for s in statuses) == ["delivered", "read", "sent"]
    assert [s["status"] for s in statuses] != ["sent", "delivered", "read"]
    # Since 2026-10-01 a service reply is billed per message (before: free_customer_service, not billable).
    assert statuses[0]["pricing"] == {
        "billable": True,
        "pricing_model": "PMP",
        "category": "service",
        "type": "regular",
    }


def test_failing_recipient_gets_a_failed_status_with_errors(graph, sandbox, recorder):
    sandbox.subscribe_webhooks(recorder.url + "/hook")
    sandbox.set_options(failing_recipients=[CUSTOMER], status_fail_code=131026)
    assert graph.send_whatsapp(TEMPLATE).status_code == 200
    statuses = _statuses(graph, recorder.wait_for(2))
    assert [s["status"] for s in statuses] == ["sent", "failed"]
    (error,) = statuses[1]["errors"]
    assert error["code"] == 131026 and error["title"] and error["error_data"]["details"]


def test_statuses_can_be_batched_per_webhook(graph, sandbox, recorder):
    sandbox.subscribe_webhooks(recorder.url + "/hook")
    sandbox.set_options(statuses_per_webhook=10)
    graph.send_whatsapp(TEMPLATE)
    sandbox.wait_webhooks()
    assert len(_statuses(graph, recorder.requests)) == 3 and len(recorder.requests) < 3


def test_inbound_messages_have_meta_shapes_and_open_the_window(graph, sandbox, recorder, make_product):
    sandbox.subscribe_webhooks(recorder.url + "/hook")
    graph.items_batch([{"method": "UPDATE", "data": make_product("sku1", price="12.5 EUR")}])
    sandbox.customer_text(None, CUSTOMER, "Hi, any linen shirts?", name="Ada")
    graph.send_whatsapp({"type": "interactive", "interactive": {"type": "list", "body": {"text": "Sizes"},
                         "action": {"button": "Pick", "sections": [{"rows": [
                             {"id": "size-m", "title": "M", "description": "Medium"}]}]}}})  # fmt: skip
    list_wamid = sandbox.messages_to(CUSTOMER)[0]["_sandbox"]["id"]
    sandbox.customer_pick_row(None, CUSTOMER, "size-m")
    sandbox.customer_cart(None, CUSTOMER, {"sku1": 2})
    sandbox.customer_location(None, CUSTOMER, 52.52, 13.405, name="Home")
    sandbox.wait_webhooks()
    inbound = []
    for captured in recorder.requests:
        value = graph.signed(captured)["entry"][0]["changes"][0]["value"]
        if "messages" in value:
            assert value["contacts"][0]["wa_id"] == CUSTOMER
            inbound.append(value["messages"][0])
    text, row, cart, location = inbound
    assert text["type"] == "text" and text["text"]["body"] == "Hi, any linen shirts?" and text["from"] == CUSTOMER
    assert row["interactive"] == {"type": "list_reply", "list_reply": {"id": "size-m", "title": "M",
                                                                       "description": "Medium"}}  # fmt: skip
    assert row["context"]["id"] == list_wamid
    assert cart["type"] == "order" and cart["order"]["catalog_id"] == graph.settings["catalog_id"]
    assert cart["order"]["product_items"] == [
        {"product_retailer_id": "sku1", "quantity": 2, "item_price": 12.5, "currency": "EUR"}
    ]
    assert location["location"] == {"latitude": 52.52, "longitude": 13.405, "name": "Home"}


def test_reply_button_and_template_quick_reply_presses(graph, sandbox, recorder):
    sandbox.subscribe_webhooks(recorder.url + "/hook")
    sandbox.customer_text(None, CUSTOMER, "hi")
    graph.send_whatsapp({"type": "interactive", "interactive": {"type": "button", "body": {"text": "Change address?"},
                         "action": {"buttons": [{"type": "reply", "reply": {"id": "addr_change", "title": "Change"}}]}}})  # fmt: skip
    pressed = sandbox.customer_press_button(None, CUSTOMER, "Change")
    assert pressed["interactive"] == {"type": "button_reply", "button_reply": {"id": "addr_change", "title": "Change"}}
    alert = {"type": "template", "template": {"name": "back_in_stock", "language": {"code": "en_US"}, "components": [
        {"type": "header", "parameters": [{"type": "image", "image": {"link": "https://images.example.com/a.jpg"}}]},
        {"type": "body", "parameters": [{"type": "text", "text": "Beanie"}]},
        {"type": "button", "sub_type": "quick_reply", "index": "0",
         "parameters": [{"type": "payload", "payload": "STOP_ALERTS"}]}]}}  # fmt: skip
    assert graph.send_whatsapp(alert).status_code == 200
    stop = sandbox.customer_press_button(None, CUSTOMER, "Stop alerts")
    assert stop["type"] == "button" and stop["button"] == {"payload": "STOP_ALERTS", "text": "Stop alerts"}


def test_messenger_and_instagram_events(graph, sandbox, recorder):
    sandbox.subscribe_webhooks(recorder.url + "/hook")
    sandbox.messenger_text("6001", "Which sizes?")
    graph.send_messenger({"recipient": {"id": "6001"}, "messaging_type": "RESPONSE", "message": {
        "text": "Pick one", "quick_replies": [{"content_type": "text", "title": "M", "payload": "SIZE_M"}]}})  # fmt: skip
    sandbox.messenger_choose("6001", "SIZE_M")
    sandbox.messenger_choose("6001", "MENU_ORDERS", title="My orders")
    sandbox.messenger_text("7001", "hey", object="instagram")
    bodies = [graph.signed(r) for r in recorder.wait_for(4)]
    assert [b["object"] for b in bodies] == ["page", "page", "page", "instagram"]
    first = bodies[0]["entry"][0]
    assert first["id"] == graph.settings["page_id"] and first["messaging"][0]["message"]["text"] == "Which sizes?"
    assert first["messaging"][0]["sender"] == {"id": "6001"} and first["time"] > 10**12
    quick = bodies[1]["entry"][0]["messaging"][0]["message"]
    assert quick["text"] == "M" and quick["quick_reply"] == {"payload": "SIZE_M"}
    postback = bodies[2]["entry"][0]["messaging"][0]["postback"]
    assert postback["payload"] == "MENU_ORDERS" and postback["title"] == "My orders" and postback["mid"]
    assert bodies[3]["entry"][0]["id"] == graph.settings["instagram_account_id"]


@pytest.fixture
def verifying_endpoint() -> Iterator[str]:
    """A callback that answers Meta's handshake like a correct receiver: echo the challenge if the token matches."""
    app = Flask("verifier")

    @app.get("/hook")
    def verify():
        if request.args.get("hub.mode") == "subscribe" and request.args.get("hub.verify_token") == "s3cret":
            return request.args["hub.challenge"], 200
        return "forbidden", 403

    with SandboxServer(app) as server:
        yield server.url + "/hook"


def test_subscription_with_verify_token_requires_the_echoed_challenge(sandbox, verifying_endpoint, recorder):
    sandbox.subscribe_webhooks(verifying_endpoint, verify_token="s3cret")
    with pytest.raises(Exception, match="400"):
        sandbox.subscribe_webhooks(verifying_endpoint, verify_token="wrong")
    with pytest.raises(Exception, match="400"):
        sandbox.subscribe_webhooks(recorder.url + "/hook", verify_token="s3cret")  # answers 200 without the challenge
    (handshake,) = recorder.requests
    assert handshake.method == "GET" and handshake.query["hub.mode"] == "subscribe"
    assert handshake.query["hub.verify_token"] == "s3cret" and handshake.query["hub.challenge"].isdigit()


@pytest.fixture
def slow_endpoint() -> Iterator[tuple[str, dict[str, int]]]:
    """A receiver that takes 0.2 s per webhook and notes how many it was answering at once."""
    import threading
    import time

    seen = {"now": 0, "most": 0, "received": 0}
    lock = threading.Lock()
    app = Flask("slow")

    @app.post("/hook")
    def hook() -> str:
        with lock:
            seen["now"] += 1
            seen["most"] = max(seen["most"], seen["now"])
        time.sleep(0.2)
        with lock:
            seen["now"] -= 1
            seen["received"] += 1
        return "ok"

    with SandboxServer(app) as server:
        yield server.url + "/hook", seen


@pytest.mark.parametrize("concurrency", [1, 4])
def test_webhooks_go_out_one_at_a_time_or_concurrently_as_meta_delivers(graph, sandbox, slow_endpoint, concurrency):
    url, seen = slow_endpoint
    sandbox.subscribe_webhooks(url, object="whatsapp_business_account")
    sandbox.set_options(webhook_concurrency=concurrency)
    for n in range(4):
        assert graph.send_whatsapp(TEMPLATE, to=f"49151000001{n:02d}").status_code == 200
    assert sandbox.wait_webhooks()  # every status delivered (12), whichever order
    assert seen["received"] == 12 and seen["now"] == 0
    assert seen["most"] == 1 if concurrency == 1 else seen["most"] > 1


def test_a_closed_sender_ends_all_its_threads_even_those_standing_by() -> None:
    from connector.sandbox.webhooks import WebhookSender

    sender = WebhookSender(concurrency=4)
    sender.set_concurrency(1)  # three threads now stand by
    sender.close()
    for thread in [*sender._threads, sender._ordered_thread]:
        thread.join(timeout=5)
        assert not thread.is_alive(), thread.name


def test_webhooks_carry_business_scoped_user_ids_as_documented_in_2026(graph, sandbox, recorder):
    sandbox.subscribe_webhooks(recorder.url + "/hook", object="whatsapp_business_account")
    sandbox.customer_text(None, CUSTOMER, "hi", name="Ada")
    [inbound] = recorder.wait_for(1)
    value = graph.signed(inbound)["entry"][0]["changes"][0]["value"]
    [contact] = value["contacts"]
    user_id = contact["user_id"]
    assert user_id.startswith("DE.") and user_id[3:].isalnum()  # ISO country code of +49, then the id
    assert contact["wa_id"] == CUSTOMER and contact["profile"] == {"name": "Ada"}
    assert value["messages"][0]["from"] == CUSTOMER and value["messages"][0]["from_user_id"] == user_id
    recorder.clear()
    sandbox.set_options(failing_recipients=["4915100000077"])
    graph.send_whatsapp({"type": "text", "text": {"body": "Hello!"}})
    graph.send_whatsapp(TEMPLATE, to="4915100000077")
    sandbox.wait_webhooks()
    for captured in recorder.requests:
        value = graph.signed(captured)["entry"][0]["changes"][0]["value"]
        for status in value["statuses"]:
            if status["status"] == "failed":  # failed statuses name no user id and bring no contacts
                assert "recipient_user_id" not in status
                if len(value["statuses"]) == 1:
                    assert "contacts" not in value
            else:
                contacts = {c["wa_id"]: c["user_id"] for c in value["contacts"]}
                assert contacts[status["recipient_id"]] == status["recipient_user_id"]
                if status["recipient_id"] == CUSTOMER:
                    assert status["recipient_user_id"] == user_id
    # The same customer keeps the same id.
    before = len(recorder.requests)  # counted before the message: its webhook may arrive at once
    sandbox.customer_text(None, CUSTOMER, "again")
    again = graph.signed(recorder.wait_for(before + 1)[-1])
    assert again["entry"][0]["changes"][0]["value"]["contacts"][0]["user_id"] == user_id
