"""Messenger / Instagram Send API: recipients, messaging_type and tags, limits, the 24 h and 7-day windows."""

from __future__ import annotations

PSID = "6001234567890123"
IGSID = "7001234567890123"


def _text(text: str = "Thanks!", **extra) -> dict:
    return {"recipient": {"id": PSID}, "messaging_type": "RESPONSE", "message": {"text": text}, **extra}


def test_reply_in_the_window_answers_recipient_and_message_id(graph, sandbox):
    sandbox.messenger_text(PSID, "Do you have it in M?")
    answer = graph.send_messenger(_text(), node=graph.settings["page_id"])
    assert answer.status_code == 200
    assert answer.json()["recipient_id"] == PSID and answer.json()["message_id"].startswith("m_")
    assert sandbox.messages_to(PSID)[0]["message"] == {"text": "Thanks!"}


def test_user_who_never_wrote_is_not_found(graph):
    error = graph.error(graph.send_messenger(_text()))
    assert error["code"] == 100 and error["error_subcode"] == 2018001


def test_outside_24h_only_human_agent_is_left_and_lasts_7_days(graph, sandbox):
    sandbox.messenger_text(PSID, "hi")
    sandbox.advance_clock(25 * 3600)
    late = graph.send_messenger(_text())
    assert late.status_code == 400
    assert graph.error(late)["code"] == 10 and graph.error(late)["error_subcode"] == 2018278
    human = _text(messaging_type="MESSAGE_TAG", tag="HUMAN_AGENT")
    assert graph.send_messenger(human).status_code == 200
    # Since 2026-04-27 the other tags are refused (was: POST_PURCHASE_UPDATE accepted, as before the ban).
    shipping = _text(messaging_type="MESSAGE_TAG", tag="POST_PURCHASE_UPDATE")
    refused = graph.send_messenger(shipping)
    assert refused.status_code == 400
    assert (graph.error(refused)["code"], graph.error(refused)["error_subcode"]) == (100, 1893061)
    sandbox.advance_clock(6 * 86400)
    assert graph.error(graph.send_messenger(human))["error_subcode"] == 2018278


def test_messaging_type_and_tags_are_validated(graph, sandbox):
    sandbox.messenger_text(PSID, "hi")
    body = _text()
    del body["messaging_type"]
    assert graph.error(graph.send_messenger(body))["code"] == 100
    assert graph.error(graph.send_messenger(_text(messaging_type="MESSAGE_TAG")))["code"] == 100
    assert graph.error(graph.send_messenger(_text(messaging_type="MESSAGE_TAG", tag="PROMO")))["code"] == 100


def test_quick_reply_limits(graph, sandbox):
    sandbox.messenger_text(PSID, "hi")
    replies = [{"content_type": "text", "title": f"Size {i}", "payload": f"S{i}"} for i in range(13)]
    ok = {
        "recipient": {"id": PSID},
        "messaging_type": "RESPONSE",
        "message": {"text": "Size?", "quick_replies": replies},
    }
    assert graph.send_messenger(ok).status_code == 200
    ok["message"]["quick_replies"] = [*replies, {"content_type": "text", "title": "XXL", "payload": "S13"}]
    assert graph.error(graph.send_messenger(ok))["code"] == 100
    ok["message"]["quick_replies"] = [{"content_type": "text", "payload": "NO_TITLE"}]
    assert graph.error(graph.send_messenger(ok))["code"] == 100


def _generic(elements: int, buttons: int = 1, title: str = "Linen shirt") -> dict:
    element = {
        "title": title,
        "subtitle": "49.90 EUR",
        "image_url": "https://images.example.com/a.jpg",
        "buttons": [{"type": "postback", "title": f"Buy {i}", "payload": f"BUY:{i}"} for i in range(buttons)],
    }
    payload = {"template_type": "generic", "elements": [element] * elements}
    return {"recipient": {"id": PSID}, "messaging_type": "RESPONSE",
            "message": {"attachment": {"type": "template", "payload": payload}}}  # fmt: skip


def test_generic_template_limits(graph, sandbox):
    sandbox.messenger_text(PSID, "hi")
    assert graph.send_messenger(_generic(10, buttons=3)).status_code == 200
    assert graph.error(graph.send_messenger(_generic(11)))["code"] == 100
    assert graph.error(graph.send_messenger(_generic(1, buttons=4)))["code"] == 100
    assert graph.error(graph.send_messenger(_generic(1, title="t" * 81)))["code"] == 100


def test_button_template_limits(graph, sandbox):
    sandbox.messenger_text(PSID, "hi")

    def button_template(text: str, count: int) -> dict:
        buttons = [
            {"type": "web_url", "url": "https://track.example.com/1", "title": f"Track {i}"} for i in range(count)
        ]
        payload = {"template_type": "button", "text": text, "buttons": buttons}
        return {"recipient": {"id": PSID}, "messaging_type": "UPDATE",
                "message": {"attachment": {"type": "template", "payload": payload}}}  # fmt: skip

    assert graph.send_messenger(button_template("What next?", 3)).status_code == 200
    assert graph.error(graph.send_messenger(button_template("What next?", 0)))["code"] == 100
    assert graph.error(graph.send_messenger(button_template("What next?", 4)))["code"] == 100
    assert graph.error(graph.send_messenger(button_template("x" * 641, 1)))["code"] == 100


def test_instagram_users_are_reached_through_me_messages(graph, sandbox):
    sandbox.messenger_text(IGSID, "hey", object="instagram")
    body = {"recipient": {"id": IGSID}, "message": {"text": "Hi from the shop"}}
    answer = graph.send_messenger(body)
    assert answer.status_code == 200 and answer.json()["recipient_id"] == IGSID
    tagged = {**body, "messaging_type": "MESSAGE_TAG", "tag": "POST_PURCHASE_UPDATE"}
    assert graph.error(graph.send_messenger(tagged))["code"] == 100
    assert graph.error(graph.send_messenger({**body, "message": {"text": "x" * 1001}}))["code"] == 100
    assert sandbox.stats()["instagram"]["accepted"] == 1
