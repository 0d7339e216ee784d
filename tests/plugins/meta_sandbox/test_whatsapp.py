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
