"""WhatsApp Cloud API sends: shapes, limits, the 24-hour window, throughput, pair rate and bad recipients."""

from __future__ import annotations

import time

import pytest
import requests

CUSTOMER = "4915112345678"


@pytest.fixture
def open_window(sandbox, graph):
    sandbox.customer_text(graph.settings["phone_number_id"], CUSTOMER, "hi")


def _list(rows: int, title: str = "Row") -> dict:
    return {
        "type": "interactive",
        "interactive": {
            "type": "list",
            "body": {"text": "Pick a size"},
            "action": {"button": "Sizes", "sections": [{"title": "Sizes", "rows": [
                {"id": f"r{i}", "title": f"{title} {i}"} for i in range(rows)]}]},
        },
    }  # fmt: skip


def _buttons(count: int, title: str = "Button") -> dict:
    buttons = [{"type": "reply", "reply": {"id": f"b{i}", "title": f"{title} {i}"}} for i in range(count)]
    return {
        "type": "interactive",
        "interactive": {"type": "button", "body": {"text": "?"}, "action": {"buttons": buttons}},
    }


def test_text_in_the_window_is_accepted_and_kept(graph, sandbox, open_window):
    answer = graph.send_whatsapp({"type": "text", "text": {"preview_url": False, "body": "Your order shipped."}},
                                 to="+" + CUSTOMER)  # fmt: skip
    assert answer.status_code == 200
    body = answer.json()
    assert body["messaging_product"] == "whatsapp"
    assert body["contacts"] == [{"input": "+" + CUSTOMER, "wa_id": CUSTOMER}]
    assert body["messages"][0]["id"].startswith("wamid.")
    (seen,) = sandbox.messages_to(CUSTOMER)
    assert seen["text"]["body"] == "Your order shipped." and seen["_sandbox"]["id"] == body["messages"][0]["id"]


def test_free_form_message_without_customer_message_gets_131047(graph, sandbox):
    answer = graph.send_whatsapp({"type": "text", "text": {"body": "Hello?"}})
    error = graph.error(answer)
    assert answer.status_code == 400 and error["code"] == 131047
    assert error["error_data"]["messaging_product"] == "whatsapp" and "24 hours" in error["error_data"]["details"]
    assert sandbox.messages_to(CUSTOMER) == []
    assert sandbox.stats()["whatsapp"]["refused"] == {"131047": 1}


def test_window_closes_after_24_hours_but_templates_still_go(graph, sandbox, open_window):
    sandbox.advance_clock(24 * 3600 + 1)
    assert graph.error(graph.send_whatsapp(_list(2)))["code"] == 131047
    template = {"type": "template", "template": {"name": "hello_world", "language": {"code": "en_US"}}}
    answer = graph.send_whatsapp(template)
    assert answer.status_code == 200 and answer.json()["messages"][0]["message_status"] == "accepted"


def test_text_body_limit(graph, open_window):
    assert graph.send_whatsapp({"type": "text", "text": {"body": "x" * 4096}}).status_code == 200
    too_long = graph.send_whatsapp({"type": "text", "text": {"body": "x" * 4097}})
    assert graph.error(too_long)["code"] == 131009


def test_list_limits(graph, open_window):
    assert graph.send_whatsapp(_list(10)).status_code == 200
    assert "row count" in graph.error(graph.send_whatsapp(_list(11)))["error_data"]["details"]
    assert graph.error(graph.send_whatsapp(_list(2, title="A title longer than 24 chars")))["code"] == 131009
    no_button = _list(2)
    del no_button["interactive"]["action"]["button"]
    assert graph.error(graph.send_whatsapp(no_button))["code"] == 131008


def test_reply_button_limits(graph, open_window):
    assert graph.send_whatsapp(_buttons(3)).status_code == 200
    assert graph.error(graph.send_whatsapp(_buttons(4)))["code"] == 131009
    assert graph.error(graph.send_whatsapp(_buttons(1, title="Twenty-one characters")))["code"] == 131009


def test_header_footer_and_body_limits(graph, open_window):
    message = _buttons(2)
    message["interactive"]["header"] = {"type": "text", "text": "h" * 61}
    assert graph.error(graph.send_whatsapp(message))["code"] == 131009
    message = _buttons(2)
    message["interactive"]["footer"] = {"text": "f" * 61}
    assert graph.error(graph.send_whatsapp(message))["code"] == 131009
    message = _buttons(2)
    message["interactive"]["body"] = {"text": "b" * 1025}
    assert graph.error(graph.send_whatsapp(message))["code"] == 131009


def test_cta_url(graph, open_window):
    message = {"type": "interactive", "interactive": {"type": "cta_url", "body": {"text": "Pay for order #1001"},
               "action": {"name": "cta_url", "parameters": {"display_text": "Pay now",
                                                            "url": "https://shop.example/pay/abc"}}}}  # fmt: skip
    assert graph.send_whatsapp(message).status_code == 200
    message["interactive"]["action"]["parameters"]["display_text"] = "A much too long button"
    assert graph.error(graph.send_whatsapp(message))["code"] == 131009


def test_product_messages_need_products_from_the_connected_catalog(graph, sandbox, open_window, make_product):
    catalog_id = graph.settings["catalog_id"]
    graph.items_batch([{"method": "UPDATE", "data": make_product(f"sku{i}")} for i in range(31)])
    single = {"type": "interactive", "interactive": {"type": "product", "body": {"text": "Back in stock"},
              "action": {"catalog_id": catalog_id, "product_retailer_id": "sku1"}}}  # fmt: skip
    assert graph.send_whatsapp(single).status_code == 200
    single["interactive"]["action"]["product_retailer_id"] = "unknown"
    assert graph.error(graph.send_whatsapp(single))["code"] == 131009

    def product_list(sections: list[list[str]]) -> dict:
        return {"type": "interactive", "interactive": {
            "type": "product_list", "header": {"type": "text", "text": "Our picks"}, "body": {"text": "Have a look"},
            "action": {"catalog_id": catalog_id, "sections": [
                {"title": f"S{n}", "product_items": [{"product_retailer_id": r} for r in ids]}
                for n, ids in enumerate(sections)]}}}  # fmt: skip

    thirty = [f"sku{i}" for i in range(30)]
    assert graph.send_whatsapp(product_list([thirty[:15], thirty[15:]])).status_code == 200
    over = graph.send_whatsapp(product_list([thirty, ["sku30"]]))
    assert graph.error(over)["code"] == 131009 and "30" in graph.error(over)["error_data"]["details"]
    eleven_sections = graph.send_whatsapp(product_list([[f"sku{i}"] for i in range(11)]))
    assert graph.error(eleven_sections)["code"] == 131009
    no_header = product_list([thirty[:2]])
    del no_header["interactive"]["header"]
    assert graph.error(graph.send_whatsapp(no_header))["code"] == 131008

    catalog_message = {"type": "interactive", "interactive": {"type": "catalog_message", "body": {"text": "Shop"},
                       "action": {"name": "catalog_message", "parameters": {}}}}  # fmt: skip
    assert graph.error(graph.send_whatsapp(catalog_message))["code"] == 131008
    catalog_message["interactive"]["action"]["parameters"]["thumbnail_product_retailer_id"] = "sku0"
    assert graph.send_whatsapp(catalog_message).status_code == 200


def test_template_parameters_are_checked_against_the_approved_template(graph):
    def shipped(params: list[dict], name: str = "order_shipped", language: str = "en_US") -> dict:
        return {"type": "template", "template": {"name": name, "language": {"code": language}, "components": [
            {"type": "body", "parameters": params},
            {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "T1"}]}]}}  # fmt: skip

    three = [{"type": "text", "text": "Ada"}, {"type": "text", "text": "#1001"}, {"type": "text", "text": "DHL"}]
    assert graph.send_whatsapp(shipped(three)).status_code == 200
    assert graph.error(graph.send_whatsapp(shipped(three[:2])))["code"] == 132000
    assert graph.error(graph.send_whatsapp(shipped(three, name="nope")))["code"] == 132001
    assert graph.error(graph.send_whatsapp(shipped(three, language="de")))["code"] == 132001
    newline = [*three[:2], {"type": "text", "text": "DHL\nExpress"}]
    assert graph.error(graph.send_whatsapp(shipped(newline)))["code"] == 100
    # order_shipped has no header: an image for one is a parameter too many, as on Meta.
    with_header = shipped(three)
    with_header["template"]["components"].insert(
        0, {"type": "header", "parameters": [{"type": "image", "image": {"link": "https://shop.example/a.png"}}]}
    )
    assert graph.error(graph.send_whatsapp(with_header))["code"] == 132000
    # As on Meta: a body variable takes no image, and a currency amount is an integer of thousandths.
    image_body = shipped([*three[:2], {"type": "image", "image": {"link": "https://shop.example/a.png"}}])
    assert graph.error(graph.send_whatsapp(image_body))["code"] == 132012
    money = {"type": "currency", "currency": {"fallback_value": "12.50 EUR", "code": "EUR", "amount_1000": "abc"}}
    assert graph.error(graph.send_whatsapp(shipped([*three[:2], money])))["code"] == 100
    money["currency"]["amount_1000"] = 12500
    assert graph.send_whatsapp(shipped([*three[:2], money])).status_code == 200


def test_webhook_concurrency_is_bounded(sandbox):
    with pytest.raises(requests.HTTPError):
        sandbox.set_options(webhook_concurrency=100_000)
    with pytest.raises(requests.HTTPError):
        sandbox.set_options(webhook_concurrency=0)
    assert sandbox.set_options(webhook_concurrency=2)["webhook_concurrency"] == 2


def test_a_slow_graph_api_takes_the_message_only_after_its_send_delay(graph, sandbox, open_window):
    """``send_delay_seconds`` makes every send wait before the sandbox takes it; ``send_requests`` counts the sends
    received, so a test sees one still being answered. A hostile delay is refused with the reason."""
    for bad in (500, -1, "soon"):
        with pytest.raises(requests.HTTPError) as refused:
            sandbox.set_options(send_delay_seconds=bad)
        assert refused.value.response.status_code == 400
    assert sandbox.set_options(send_delay_seconds=0.6)["send_delay_seconds"] == 0.6
    before = sandbox.stats()
    started = time.monotonic()
    answer = graph.send_whatsapp({"type": "text", "text": {"body": "Your order shipped."}}, to="+" + CUSTOMER)
    assert answer.status_code == 200 and time.monotonic() - started >= 0.6
    after = sandbox.stats()
    assert after["send_requests"] == before["send_requests"] + 1
    assert after["whatsapp"]["accepted"] == before["whatsapp"]["accepted"] + 1
    sandbox.set_options(send_delay_seconds=0)


def test_templates_created_through_the_api_can_be_sent(graph):
    definition = {"name": "restock_alert", "language": "de", "category": "MARKETING",
                  "components": [{"type": "BODY", "text": "{{1}} ist wieder da"}]}  # fmt: skip
    created = graph.post(f"{graph.settings['waba_id']}/message_templates", json=definition)
    assert created.status_code == 200 and created.json()["status"] == "APPROVED"
    send = {"type": "template", "template": {"name": "restock_alert", "language": {"code": "de"},
            "components": [{"type": "body", "parameters": [{"type": "text", "text": "Beanie"}]}]}}  # fmt: skip
    assert graph.send_whatsapp(send).status_code == 200


def test_throughput_above_the_configured_mps_gets_130429(graph, sandbox):
    sandbox.set_options(mps=3)
    template = {"type": "template", "template": {"name": "hello_world", "language": {"code": "en_US"}}}
    codes = [graph.send_whatsapp(template, to=f"49151000000{i:02d}").status_code for i in range(5)]
    assert codes.count(200) == 3 and codes.count(429) == 2
    limited = graph.send_whatsapp(template, to="4915100000099")
    assert graph.error(limited)["code"] == 130429


def test_pair_rate_limits_one_recipient_only(graph, sandbox):
    sandbox.set_options(pair_limit=2, pair_window=60)
    template = {"type": "template", "template": {"name": "hello_world", "language": {"code": "en_US"}}}
    assert [graph.send_whatsapp(template).status_code for _ in range(2)] == [200, 200]
    third = graph.send_whatsapp(template)
    assert third.status_code == 429 and graph.error(third)["code"] == 131056
    assert graph.send_whatsapp(template, to="4917000000001").status_code == 200


def test_configured_bad_recipient_gets_131026(graph, sandbox):
    sandbox.set_options(bad_recipients=["+4915199999999"])
    template = {"type": "template", "template": {"name": "hello_world", "language": {"code": "en_US"}}}
    answer = graph.send_whatsapp(template, to="4915199999999")
    assert answer.status_code == 400 and graph.error(answer)["code"] == 131026
    assert sandbox.stats()["whatsapp"] == {"accepted": 0, "refused": {"131026": 1}}


def test_malformed_envelope_gets_code_100(graph):
    answer = graph.post(f"{graph.settings['phone_number_id']}/messages", json={"to": CUSTOMER, "type": "text"})
    assert answer.status_code == 400 and graph.error(answer)["code"] == 100
    unknown_type = graph.send_whatsapp({"type": "carousel_of_doom"})
    assert graph.error(unknown_type)["code"] == 100


def test_template_component_types_are_accepted_in_upper_and_lower_case(graph, sandbox):
    # pywa builds BODY / BUTTON with sub_type URL; Meta's examples use lower case: WhatsApp takes both.
    def shipped(body: str, button: str, sub_type: str) -> dict:
        params = [{"type": "text", "text": t} for t in ("Ada", "#1001", "DHL")]
        return {"type": "template", "template": {"name": "order_shipped", "language": {"code": "en_US"}, "components": [
            {"type": body, "parameters": params},
            {"type": button, "sub_type": sub_type, "index": 0, "parameters": [{"type": "text", "text": "T1"}]}]}}  # fmt: skip

    for case in (("BODY", "BUTTON", "URL"), ("body", "button", "url"), ("Body", "Button", "Url")):
        assert graph.send_whatsapp(shipped(*case)).status_code == 200, case
    sandbox.customer_text(graph.settings["phone_number_id"], CUSTOMER, "hi")
    stop = {"type": "template", "template": {"name": "back_in_stock", "language": {"code": "en_US"}, "components": [
        {"type": "HEADER", "parameters": [{"type": "image", "image": {"link": "https://shop.example/a.png"}}]},
        {"type": "BODY", "parameters": [{"type": "text", "text": "Linen shirt"}]},
        {"type": "BUTTON", "sub_type": "QUICK_REPLY", "index": 0, "parameters": [{"type": "payload", "payload": "stop"}]}]}}  # fmt: skip
    assert graph.send_whatsapp(stop).status_code == 200
    # The customer's tap on the upper-case quick reply still carries its payload.
    assert sandbox.customer_press_button(None, CUSTOMER, "Stop alerts")["button"]["payload"] == "stop"
    # An unknown component type is the client's mistake: a 400 naming it, never a 500.
    unknown = graph.send_whatsapp(shipped("FOOTNOTE", "BUTTON", "URL"))
    assert unknown.status_code == 400
    assert "components[0].type" in graph.error(unknown)["error_data"]["details"]


def test_error_messages_carry_the_code_once(graph, open_window):
    answer = graph.send_whatsapp({"type": "text", "text": {"body": "hi"}, "biz_opaque_callback_data": 42})
    assert graph.error(answer)["message"] == "(#100) Invalid parameter"


def test_read_receipt_and_typing_indicator(graph, sandbox):
    wamid = sandbox.customer_text(graph.settings["phone_number_id"], CUSTOMER, "hi")
    phone = graph.settings["phone_number_id"]
    read = graph.post(
        f"{phone}/messages", json={"messaging_product": "whatsapp", "status": "read", "message_id": wamid}
    )
    assert read.status_code == 200 and read.json() == {"success": True}
    typing = {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": wamid,
        "typing_indicator": {"type": "text"},
    }
    assert graph.post(f"{phone}/messages", json=typing).json() == {"success": True}
    [seen] = sandbox.whatsapp_received(CUSTOMER)
    assert seen["read"] and seen["typing"]
    # Neither is a message the customer receives, nor does either produce a status webhook.
    assert sandbox.messages_to(CUSTOMER) == []
    unknown = graph.post(f"{phone}/messages", json={**typing, "message_id": "wamid.unknown"})
    assert unknown.status_code == 400 and graph.error(unknown)["code"] == 100
    wrong = graph.post(f"{phone}/messages", json={**typing, "typing_indicator": {"type": "audio"}})
    assert wrong.status_code == 400 and "typing_indicator" in graph.error(wrong)["error_data"]["details"]


def test_template_listing_has_parameter_format_and_cursor_paging(graph, sandbox):
    sandbox.add_template("order_ready", "Hi {{name}}, order {{order}} is ready.")
    waba = graph.settings["waba_id"]
    first = graph.get(f"{waba}/message_templates", params={"limit": 3}).json()
    assert len(first["data"]) == 3 and "next" in first["paging"] and "previous" not in first["paging"]
    second = graph.get(f"{waba}/message_templates", params={"limit": 3, "after": first["paging"]["cursors"]["after"]})
    rest = second.json()
    assert "next" not in rest["paging"] and "previous" in rest["paging"]
    every = {t["name"]: t["parameter_format"] for t in first["data"] + rest["data"]}
    assert every == {
        "hello_world": "POSITIONAL",
        "order_shipped": "POSITIONAL",
        "back_in_stock": "POSITIONAL",
        "order_ready": "NAMED",
    }
    bad = graph.get(f"{waba}/message_templates", params={"after": "not-a-cursor"})
    assert bad.status_code == 400 and graph.error(bad)["code"] == 100


def test_sends_to_a_business_scoped_user_id(graph, sandbox, recorder):
    sandbox.subscribe_webhooks(recorder.url + "/hook", object="whatsapp_business_account")
    sandbox.customer_text(graph.settings["phone_number_id"], CUSTOMER, "hi")
    [webhook] = recorder.wait_for(1)
    user_id = graph.signed(webhook)["entry"][0]["changes"][0]["value"]["contacts"][0]["user_id"]
    body = {"messaging_product": "whatsapp", "recipient": user_id, "type": "text", "text": {"body": "Hallo"}}
    answer = graph.post(f"{graph.settings['phone_number_id']}/messages", json=body)
    assert answer.status_code == 200
    assert answer.json()["contacts"] == [{"input": user_id, "user_id": user_id}]
    assert [m["text"]["body"] for m in sandbox.messages_to(CUSTOMER)] == ["Hallo"]
    stranger = graph.post(f"{graph.settings['phone_number_id']}/messages", json={**body, "recipient": "US.123"})
    assert stranger.status_code == 400 and graph.error(stranger)["code"] == 100
