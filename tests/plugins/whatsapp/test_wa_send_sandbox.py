"""Sending through the Graph sandbox over real HTTP: every type arrives as rendered, limits stop a message
before the sandbox sees it, and every error code the sandbox can produce maps to the right SendAction."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from connector_meta.catalog import catalog_fields
from connector_whatsapp.adapter import WhatsAppAdapter
from flask import Flask, jsonify

from connector import model
from connector.errors import ConnectionTestError, MessageLimitError, SendAction, SendError
from connector.sandbox.server import SandboxServer

CUSTOMER = "4915112345678"
CONTACT = model.Contact("whatsapp", CUSTOMER, phone="+" + CUSTOMER, name="Anna")


def variant(n: int) -> model.Variant:
    return model.Variant(
        external_id=f"sku-{n}",
        product_external_id=f"prod-{n // 3}",
        title=f"Shirt {n}",
        price=model.Money("19.90", "EUR"),
        availability=model.Availability.IN_STOCK,
        description="Cotton shirt",
        link=f"https://shop.example/p/{n}",
        image_url=f"https://shop.example/i/{n}.jpg",
        attributes={"size": "M"},
        stock_quantity=5,
    )


@pytest.fixture
def stocked(adapter: WhatsAppAdapter) -> list[str]:
    """Six products pushed into the WhatsApp catalog through the adapter's own publisher."""
    from connector.adapters import CatalogPush

    publisher = adapter.catalog()
    assert publisher is not None
    result = publisher.push([CatalogPush(f"sku-{n}", "UPDATE", catalog_fields(variant(n))) for n in range(6)])
    assert result.handle and not result.item_errors
    return [f"sku-{n}" for n in range(6)]


def test_connection_test_reads_the_phone_number(adapter: WhatsAppAdapter) -> None:
    info = adapter.test_connection()
    assert info.name == "Chatshop Demo" and info.details["quality_rating"] == "GREEN"


def test_connection_test_says_what_to_fix(adapter: WhatsAppAdapter) -> None:
    with pytest.raises(ConnectionTestError, match="access token"):
        WhatsAppAdapter({**adapter.settings, "access_token": "wrong"}).test_connection()
    with pytest.raises(ConnectionTestError, match="Phone number ID"):
        WhatsAppAdapter({**adapter.settings, "phone_number_id": "999"}).test_connection()


def test_every_type_reaches_the_customer_as_rendered(sandbox, adapter: WhatsAppAdapter, stocked: list[str]) -> None:
    sandbox.customer_text(None, CUSTOMER, "Hi, what do you have?")  # opens the 24-hour window
    messages: list[model.Outbound] = [
        model.TextMessage("Your order #1001 has shipped."),
        model.ListMessage("Pick a size", "Sizes", [model.ListSection("Shirts", [model.ListRow("m", "M", "Medium")])]),
        model.ButtonsMessage(
            "Change the address?", [model.Button("addr_change", "Change"), model.Button("keep", "Keep")]
        ),
        model.LinkButtonMessage("Pay for order #1001", "Pay now", "https://shop.example/pay/abc", header="Order #1001"),
        model.ProductMessage("", stocked[0], body="Back in stock"),  # empty catalog id: the connection's catalog
        model.ProductListMessage("", "New in", "Our picks", [model.ProductSection("Shirts", stocked[:3])]),
        model.CatalogMessage("Browse our shop", stocked[0]),
        model.TemplateMessage("order_shipped", "en_US", ["Anna", "#1001", "DHL"], button_parameters=["1001"]),
    ]
    results = [adapter.send(CONTACT, message) for message in messages]
    assert all(r.message_id.startswith("wamid.") and r.recipient_id == CUSTOMER for r in results)
    seen = sandbox.messages_to(CUSTOMER)
    assert [m["_sandbox"]["id"] for m in seen] == [r.message_id for r in results]
    assert seen[0]["text"]["body"] == "Your order #1001 has shipped."
    assert [m.get("interactive", {}).get("type") for m in seen[1:7]] == [
        "list",
        "button",
        "cta_url",
        "product",
        "product_list",
        "catalog_message",
    ]
    assert seen[4]["interactive"]["action"] == {"catalog_id": "354160437058781", "product_retailer_id": "sku-0"}
    assert seen[7]["template"]["name"] == "order_shipped"


def test_templates_go_out_when_the_window_is_closed(sandbox, adapter: WhatsAppAdapter) -> None:
    result = adapter.send(CONTACT, model.TemplateMessage("hello_world", "en_US"))
    assert sandbox.messages_to(CUSTOMER)[0]["_sandbox"]["id"] == result.message_id


def test_one_over_any_limit_never_reaches_the_sandbox(sandbox, adapter: WhatsAppAdapter, over_limit_case) -> None:
    message, field, _limit = over_limit_case
    sandbox.customer_text(None, CUSTOMER, "hi")
    with pytest.raises(MessageLimitError) as caught:
        adapter.send(CONTACT, message)
    assert caught.value.field == field
    assert sandbox.messages_to(CUSTOMER) == []
    assert sandbox.stats()["whatsapp"] == {"accepted": 0, "refused": {}}


# --------------------------------------------------------------------------- error mapping


def send_error(adapter: WhatsAppAdapter, message: model.Outbound, contact: model.Contact = CONTACT) -> SendError:
    with pytest.raises(SendError) as caught:
        adapter.send(contact, message)
    return caught.value


def test_131047_outside_the_window_means_use_a_template(sandbox, adapter: WhatsAppAdapter) -> None:
    error = send_error(adapter, model.TextMessage("hello"))
    assert (error.action, error.code) == (SendAction.USE_TEMPLATE, 131047)
    sandbox.customer_text(None, CUSTOMER, "hi")
    sandbox.advance_clock(25 * 3600)  # the window closes 24 h after the customer's last message
    assert send_error(adapter, model.TextMessage("hello")).action is SendAction.USE_TEMPLATE


def test_131026_undeliverable(sandbox, adapter: WhatsAppAdapter) -> None:
    sandbox.set_options(bad_recipients=[CUSTOMER])
    error = send_error(adapter, model.TemplateMessage("hello_world", "en_US"))
    assert (error.action, error.code) == (SendAction.UNDELIVERABLE, 131026)
    assert not error.retryable


@pytest.mark.parametrize("throttle_status", [429, 400])
def test_130429_throughput_means_retry_later(sandbox, adapter: WhatsAppAdapter, throttle_status: int) -> None:
    sandbox.set_options(mps=1, throttle_http_status=throttle_status)
    adapter.send(CONTACT, model.TemplateMessage("hello_world", "en_US"))
    error = send_error(adapter, model.TemplateMessage("hello_world", "en_US"))
    assert (error.action, error.code) == (SendAction.RETRY_LATER, 130429)
    assert error.retryable and error.retry_after


@pytest.mark.parametrize("throttle_status", [429, 400])
def test_131056_pair_rate_means_retry_later(sandbox, adapter: WhatsAppAdapter, throttle_status: int) -> None:
    sandbox.set_options(pair_limit=1, throttle_http_status=throttle_status)
    adapter.send(CONTACT, model.TemplateMessage("hello_world", "en_US"))
    error = send_error(adapter, model.TemplateMessage("hello_world", "en_US"))
    assert (error.action, error.code) == (SendAction.RETRY_LATER, 131056)
    # Another customer is not affected by this pair's limit.
    adapter.send(model.Contact("whatsapp", "4915199999999"), model.TemplateMessage("hello_world", "en_US"))


def test_code_100_invalid_parameter_is_a_bug_with_the_detail(sandbox, adapter: WhatsAppAdapter) -> None:
    nobody = model.Contact("whatsapp", "not-a-number")
    error = send_error(adapter, model.TemplateMessage("hello_world", "en_US"), nobody)
    assert (error.action, error.code) == (SendAction.BUG, 100)
    assert "phone number" in str(error) and error.details


def test_unknown_product_and_template_are_bugs(sandbox, adapter: WhatsAppAdapter) -> None:
    sandbox.customer_text(None, CUSTOMER, "hi")
    error = send_error(adapter, model.ProductMessage("", "no-such-sku"))
    assert (error.action, error.code) == (SendAction.BUG, 131009)
    error = send_error(adapter, model.TemplateMessage("no_such_template", "en_US"))
    assert (error.action, error.code) == (SendAction.BUG, 132001)
    error = send_error(adapter, model.TemplateMessage("order_shipped", "en_US", ["only one"]))
    assert (error.action, error.code) == (SendAction.BUG, 132000)


def test_wrong_token_is_a_setup_problem_for_the_owner_not_a_bad_message(adapter: WhatsAppAdapter) -> None:
    broken = WhatsAppAdapter({**adapter.settings, "access_token": "expired"})
    error = send_error(broken, model.TemplateMessage("hello_world", "en_US"))
    assert (error.action, error.code) == (SendAction.CONFIG, 190)
    assert "credentials" in str(error)


class FailingGraph:
    """A stand-in Graph host for failures the sandbox does not produce: 5xx answers and hangs."""

    def __init__(self, status: int = 500, delay: float = 0.0):
        self.calls = 0
        app = Flask("failing-graph")

        @app.post("/<version>/<node>/messages")
        def messages(version: str, node: str):  # type: ignore[no-untyped-def]
            self.calls += 1
            time.sleep(delay)
            body = {
                "error": {
                    "message": "(#131000) Something went wrong",
                    "type": "OAuthException",
                    "code": 131000,
                    "error_data": {"messaging_product": "whatsapp", "details": "Unknown error"},
                }
            }
            return jsonify(body), status

        self.server = SandboxServer(app)


@pytest.fixture
def failing() -> Iterator[FailingGraph]:
    graph = FailingGraph()
    graph.server.start()
    yield graph
    graph.server.stop()


def test_5xx_means_retry_and_the_send_is_not_repeated_blindly(adapter: WhatsAppAdapter, failing: FailingGraph) -> None:
    broken = WhatsAppAdapter({**adapter.settings, "graph_url": failing.server.url})
    error = send_error(broken, model.TextMessage("hi"))
    assert (error.action, error.status) == (SendAction.RETRY, 500) and error.retryable
    # A POST that may have been processed is not resent inside the adapter (no idempotency key at Meta).
    assert failing.calls == 1


def test_timeouts_and_unreachable_hosts_mean_retry(adapter: WhatsAppAdapter) -> None:
    slow = FailingGraph(status=200, delay=1.0)
    slow.server.start()
    try:
        timed_out = WhatsAppAdapter({**adapter.settings, "graph_url": slow.server.url})
        timed_out.graph.http.timeout = (1.0, 0.2)
        assert send_error(timed_out, model.TextMessage("hi")).action is SendAction.RETRY
    finally:
        slow.server.stop()
    unreachable = WhatsAppAdapter({**adapter.settings, "graph_url": "http://127.0.0.1:9"})
    assert send_error(unreachable, model.TextMessage("hi")).action is SendAction.RETRY


def test_read_receipt_and_typing_indicator_reach_the_customer(sandbox, adapter: WhatsAppAdapter) -> None:
    wamid = sandbox.customer_text(None, CUSTOMER, "Do you ship to Austria?")
    assert adapter.mark_read(wamid)
    [seen] = sandbox.whatsapp_received(CUSTOMER)
    assert seen["read"] and not seen["typing"]
    assert adapter.mark_read(wamid, typing=True)
    [seen] = sandbox.whatsapp_received(CUSTOMER)
    assert seen["typing"]
    adapter.send(CONTACT, model.TextMessage("Yes, we do."))
    [seen] = sandbox.whatsapp_received(CUSTOMER)
    assert not seen["typing"]  # our answer replaced the indicator


def test_a_refused_read_receipt_is_reported_not_raised(adapter: WhatsAppAdapter) -> None:
    assert adapter.mark_read("wamid.this-number-never-received-it") is False


def test_a_customer_known_only_by_business_scoped_user_id_gets_the_answer(sandbox, adapter: WhatsAppAdapter) -> None:
    # 2026: a customer with a username may come with a business-scoped user id only; the answer goes to it.
    written = sandbox.control("POST", "whatsapp/messages", json={"wa_id": CUSTOMER, "type": "text", "text": "hi"})
    user_id = written["message"]["from_user_id"]
    hidden = model.Contact("whatsapp", user_id, name="Anna")
    result = adapter.send(hidden, model.TextMessage("Hello Anna"))
    assert result.recipient_id == user_id
    assert [m["text"]["body"] for m in sandbox.messages_to(CUSTOMER)] == ["Hello Anna"]


def test_a_refusal_names_meta_code_once(sandbox, adapter: WhatsAppAdapter) -> None:
    error = send_error(
        adapter, model.TemplateMessage("hello_world", "en_US"), model.Contact("whatsapp", "not-a-number")
    )
    assert str(error).count("(#100)") == 1
