"""Chat orders through the Store API guest checkout, looked up and changed through the Admin API."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
import requests
from connector_shopware.adapter import ShopwareAdapter
from connector_shopware.sandbox import ShopwareSandbox

from connector.errors import NotFound, OrderAlreadyShipped, PlatformError
from connector.model import Cart, CartLine, Customer, OrderStatus, ShipmentStatus

from .conftest import ADDRESS, CUSTOMER, buyable


def test_order_is_a_guest_checkout_with_a_working_payment_page(
    adapter: ShopwareAdapter, sandbox: ShopwareSandbox
) -> None:
    variant_id = buyable(adapter)[0]
    stock_before = adapter.get_variants([variant_id])[0].stock_quantity
    order = adapter.create_order(
        Cart(lines=[CartLine(variant_id, 2)], reference="wamid.1", note="ring twice"), CUSTOMER, ADDRESS
    )
    assert order.status is OrderStatus.PENDING and order.reference == "wamid.1"
    assert order.shipping_total is not None and order.total == order.subtotal + order.shipping_total
    raw = sandbox.orders()[0]
    assert raw["campaignCode"] == "chatshop:wamid.1" and raw["customerComment"] == "ring twice"
    assert order.payment_url == f"{sandbox.url}/account/order/{raw['deepLinkCode']}"
    page = requests.get(order.payment_url, timeout=10)
    assert page.status_code == 200 and order.number in page.text
    assert adapter.get_variants([variant_id])[0].stock_quantity == stock_before - 2


def test_concurrent_creates_with_one_reference_make_one_order(
    adapter: ShopwareAdapter, sandbox: ShopwareSandbox
) -> None:
    cart = Cart(lines=[CartLine(buyable(adapter)[0], 1)], reference="wamid.concurrent")
    results: list[str] = []
    threads = [
        threading.Thread(target=lambda: results.append(adapter.create_order(cart, CUSTOMER, ADDRESS).external_id))
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1 and len(sandbox.orders()) == 1


def test_sold_out_line_refuses_the_order(adapter: ShopwareAdapter, sandbox: ShopwareSandbox) -> None:
    variant_id = buyable(adapter)[0]
    sandbox.set_stock(variant_id, 1)
    with pytest.raises(PlatformError, match="wanted 3, got 1"):
        adapter.create_order(Cart(lines=[CartLine(variant_id, 3)], reference="wamid.short"), CUSTOMER, ADDRESS)
    assert sandbox.orders() == []


def test_customer_without_email_gets_a_placeholder(adapter: ShopwareAdapter) -> None:
    cart = Cart(lines=[CartLine(buyable(adapter)[0], 1)], reference="wamid.noemail")
    order = adapter.create_order(cart, Customer(phone="+4917000000001", first_name="Kim", last_name="Lee"), ADDRESS)
    assert order.customer.email == "4917000000001@chat.invalid"
    assert [o.external_id for o in adapter.find_orders(phone="4917000000001")] == [order.external_id]


def test_find_orders_newest_first_and_unknown_order(adapter: ShopwareAdapter, placed_order) -> None:
    first = placed_order(adapter, "wamid.a")
    second = placed_order(adapter, "wamid.b")
    assert [o.external_id for o in adapter.find_orders(email=CUSTOMER.email)] == [second.external_id, first.external_id]
    assert [o.number for o in adapter.find_orders(number=f"#{first.number}")] == [first.number]
    assert adapter.find_orders() == []
    with pytest.raises(NotFound):
        adapter.get_order("0" * 32)


def test_delivered_and_returned_statuses(adapter: ShopwareAdapter, sandbox: ShopwareSandbox, placed_order) -> None:
    order = placed_order(adapter, "wamid.states")
    assert adapter.get_order(order.external_id).fulfillments == []
    sandbox.ship_order(order.external_id, company="DHL", number="JJD1")
    sandbox.set_delivery_status(order.external_id, "out_for_delivery")  # no such state in Shopware
    assert adapter.get_order(order.external_id).fulfillments[0].status is ShipmentStatus.IN_TRANSIT
    sandbox.set_delivery_status(order.external_id, "delivered")
    done = adapter.get_order(order.external_id)
    assert done.status is OrderStatus.COMPLETED and done.fulfillments[0].status is ShipmentStatus.DELIVERED

    other = placed_order(adapter, "wamid.returned")
    sandbox.ship_order(other.external_id, company="DHL", number="JJD2")
    sandbox.set_delivery_status(other.external_id, "failed")
    returned = adapter.get_order(other.external_id)
    assert returned.fulfillments[0].status is ShipmentStatus.FAILED
    with pytest.raises(OrderAlreadyShipped):
        adapter.update_shipping_address(other.external_id, ADDRESS)


def test_address_change_writes_the_delivery_address(
    adapter: ShopwareAdapter, sandbox: ShopwareSandbox, placed_order
) -> None:
    order = placed_order(adapter, "wamid.addr")
    new = ADDRESS.__class__(
        name="Erika Muster", line1="Ring 2", line2="3rd floor", postcode="1010", city="Vienna", country_code="AT"
    )
    updated = adapter.update_shipping_address(order.external_id, new)
    assert updated.shipping_address is not None
    assert (updated.shipping_address.city, updated.shipping_address.country_code, updated.shipping_address.line2) == (
        "Vienna",
        "AT",
        "3rd floor",
    )
    raw = sandbox.orders()[0]["deliveries"][0]["shippingOrderAddress"]
    assert (raw["firstName"], raw["lastName"], raw["zipcode"]) == ("Erika", "Muster", "1010")


def test_sale_price_is_the_selling_price(adapter: ShopwareAdapter, sandbox: ShopwareSandbox) -> None:
    variant_id = buyable(adapter)[0]
    sandbox.set_price(variant_id, Decimal("20.00"), Decimal("15.00"))
    order = adapter.create_order(Cart(lines=[CartLine(variant_id, 1)], reference="wamid.sale"), CUSTOMER, ADDRESS)
    assert order.lines[0].unit_price.amount == Decimal("15.00")


def test_an_order_names_the_country_its_phone_number_is_read_with(adapter: ShopwareAdapter) -> None:
    # A national number typed at checkout is read with the billing address's country (connector.phones).
    cart = Cart(lines=[CartLine(buyable(adapter)[0], 1)], reference="wamid.country")
    created = adapter.create_order(cart, CUSTOMER, ADDRESS)
    order = adapter.get_order(created.external_id)
    assert order.customer.country_code == "DE"
