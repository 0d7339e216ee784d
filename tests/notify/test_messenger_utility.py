"""Messenger shipping updates after the tag ban, over real HTTP (WooCommerce sandbox -> connector -> Graph sandbox):
outside the 24-hour window an order update goes as a Messenger utility message (``messaging_type: UTILITY`` and the
Page's approved template) to a customer whose order is in a supported market; otherwise it is skipped with the
reason. Never a tagged send."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.db.migrate import upgrade
from connector.db.models import OutboundMessage
from connector.plugins import Plugins
from connector.runtime import Runtime
from tests.conftest import make_config, start_stack, stop_stack
from tests.conversation.conftest import ChatStack, Customer
from tests.notify.conftest import settled
from tests.notify.test_meta_channels import buy, close_window

PAGE_TEMPLATE = "Hi {{1}}, your order {{2}} has shipped with {{3}}."


@pytest.fixture
def utility_stack(tmp_path: Path, plugins: Plugins) -> Iterator[ChatStack]:
    """The chat stack with a Messenger utility template named for order_shipped (English)."""
    notify = {"messenger_utility_templates": {"order_shipped": {"en": "order_shipped"}}}
    rt = Runtime(make_config(f"sqlite:///{tmp_path / 'connector.db'}", notify=notify), plugins=plugins)
    upgrade(rt.db)
    stack = start_stack(rt, shop_webhooks=True)
    try:
        yield ChatStack(stack)
    finally:
        stop_stack(stack)
        rt.close()


def bought_from(chat: ChatStack, customer: Customer, country: str) -> str:
    """The customer buys in the chat and gives a billing address in ``country``; returns the shop's order id."""
    order = buy(customer)
    adapter = chat.runtime.connections.shop_adapter(chat.stack.shop_id)
    adapter.client.put(f"orders/{order.order_external_id}", {"billing": {"country": country}})
    return order.order_external_id


def test_outside_the_window_a_us_buyer_gets_the_update_as_a_utility_message(utility_stack: ChatStack) -> None:
    utility_stack.graph.add_page_template("order_shipped", PAGE_TEMPLATE)
    customer = utility_stack.messenger_customer()
    order_id = bought_from(utility_stack, customer, "US")
    seen = len(utility_stack.graph.messages_to(customer.user_id))
    close_window(utility_stack, customer)
    utility_stack.shop.ship_order(order_id, company="UPS", number="1Z0044", url="https://ups.example/t/44")

    [row] = settled(utility_stack, "order_shipped")
    assert row.status == "sent", row.reason or row.error
    [sent] = utility_stack.graph.messages_to(customer.user_id)[seen:]
    assert sent["messaging_type"] == "UTILITY" and "tag" not in sent
    template = sent["message"]["template"]
    assert (template["name"], template["language"]) == ("order_shipped", {"code": "en_US"})
    [body] = template["components"]
    assert body["type"] == "BODY" and [p["text"] for p in body["parameters"]][1:] == [row_number(row), "UPS"]
    assert row.outside_window is True and row.cost == 0.0
    assert utility_stack.graph.stats()["messenger"]["refused"] == {}


def row_number(row: OutboundMessage) -> str:
    """The order number the notification was rendered with."""
    return str((row.notification or {}).get("vars", {}).get("number"))


def test_a_buyer_outside_the_utility_markets_is_skipped_with_the_reason(utility_stack: ChatStack) -> None:
    utility_stack.graph.add_page_template("order_shipped", PAGE_TEMPLATE)
    customer = utility_stack.messenger_customer()
    order_id = bought_from(utility_stack, customer, "DE")
    seen = len(utility_stack.graph.messages_to(customer.user_id))
    close_window(utility_stack, customer)
    utility_stack.shop.ship_order(order_id, company="DHL", number="TRK0045", url="https://dhl.example/t/45")

    [row] = settled(utility_stack, "order_shipped")
    assert row.status == "skipped"
    assert row.reason == (
        "outside the 24-hour window and Messenger utility messages are not available in DE (only US, VN, TH, PH)"
    )
    assert utility_stack.graph.messages_to(customer.user_id)[seen:] == []
    assert utility_stack.graph.stats()["messenger"]["refused"] == {}


def test_without_an_approved_page_template_the_update_is_skipped_not_sent(utility_stack: ChatStack) -> None:
    utility_stack.graph.set_options(page_template_status="PENDING")
    utility_stack.graph.add_page_template("order_shipped", PAGE_TEMPLATE)
    customer = utility_stack.messenger_customer()
    order_id = bought_from(utility_stack, customer, "US")
    seen = len(utility_stack.graph.messages_to(customer.user_id))
    close_window(utility_stack, customer)
    utility_stack.shop.ship_order(order_id, company="UPS", number="1Z0046", url="https://ups.example/t/46")

    [row] = settled(utility_stack, "order_shipped")
    assert row.status == "skipped"
    assert row.reason == (
        "outside the 24-hour window and the Page's Messenger utility template order_shipped (en_US) is pending at "
        "Meta; nothing was sent"
    )
    assert utility_stack.graph.messages_to(customer.user_id)[seen:] == []
    assert utility_stack.graph.stats()["messenger"]["refused"] == {}
