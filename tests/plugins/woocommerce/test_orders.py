"""Orders from chat on WooCommerce: the request WooCommerce gets, idempotency via meta, lookups, tracking."""

from __future__ import annotations

import pytest
import requests
from connector_woocommerce.adapter import WooCommerceAdapter
from connector_woocommerce.mapping import REFERENCE_META_KEY
from connector_woocommerce.sandbox import WooCommerceSandbox

from connector.errors import NotFound, OrderAlreadyShipped
from connector.model import Address, Availability, Cart, CartLine, Customer, OrderStatus, ShipmentStatus, Variant

from .conftest import API

CUSTOMER = Customer(phone="+4915112345678", email="erika@example.com", first_name="Erika", last_name="Mustermann")
ADDRESS = Address(name="Erika Mustermann", line1="Hauptstrasse 1", postcode="10115", city="Berlin", country_code="DE")


def _buyable(adapter: WooCommerceAdapter, *, variation: bool) -> Variant:
    return next(
        v
        for v in adapter.iter_variants()
        if v.availability is Availability.IN_STOCK and (v.external_id != v.product_external_id) is variation
    )


def _order(adapter: WooCommerceAdapter, reference: str, customer: Customer = CUSTOMER):
    cart = Cart(lines=[CartLine(_buyable(adapter, variation=True).external_id, 2)], reference=reference)
    return adapter.create_order(cart, customer, ADDRESS)


def test_order_request_has_variation_reference_and_pending_status(
    adapter: WooCommerceAdapter, sandbox: WooCommerceSandbox
) -> None:
    variation = _buyable(adapter, variation=True)
    simple = _buyable(adapter, variation=False)
    cart = Cart(lines=[CartLine(variation.external_id, 2), CartLine(simple.external_id, 1)], reference="wamid.ABC")
    order = adapter.create_order(cart, CUSTOMER, ADDRESS)
    raw = next(o for o in sandbox.orders() if str(o["id"]) == order.external_id)
    assert raw["status"] == "pending" and raw["date_paid"] is None
    items = {(i["product_id"], i["variation_id"], i["quantity"]) for i in raw["line_items"]}
    assert items == {
        (int(variation.product_external_id), int(variation.external_id), 2),
        (int(simple.external_id), 0, 1),
    }
    assert {"key": REFERENCE_META_KEY, "value": "wamid.ABC"}.items() <= next(
        m for m in raw["meta_data"] if m["key"] == REFERENCE_META_KEY
    ).items()
    assert raw["billing"]["email"] == CUSTOMER.email and raw["billing"]["phone"] == CUSTOMER.phone
    assert raw["shipping"]["city"] == "Berlin" and raw["shipping"]["country"] == "DE"
    assert order.payment_url == raw["payment_url"] and f"key={raw['order_key']}" in order.payment_url
    assert order.reference == "wamid.ABC" and order.status is OrderStatus.PENDING
    assert order.total.amount == 2 * variation.effective_price.amount + simple.effective_price.amount


def test_lost_create_response_does_not_duplicate_the_order(
    adapter: WooCommerceAdapter, sandbox: WooCommerceSandbox
) -> None:
    """The store creates the order but the answer is lost (a 502 from a proxy): the retry finds it by its meta."""
    variant = _buyable(adapter, variation=True)
    cart = Cart(lines=[CartLine(variant.external_id, 1)], reference="wamid.LOST")
    sandbox.control(
        "POST", "faults", json={"count": 1, "status": 502, "method": "POST", "path": f"{API}/orders", "after": True}
    )
    order = adapter.create_order(cart, CUSTOMER, ADDRESS)
    assert [o["id"] for o in sandbox.orders()] == [int(order.external_id)]
    assert order.reference == "wamid.LOST"


def test_create_is_retried_when_nothing_was_created(adapter: WooCommerceAdapter, sandbox: WooCommerceSandbox) -> None:
    variant = _buyable(adapter, variation=True)
    cart = Cart(lines=[CartLine(variant.external_id, 1)], reference="wamid.RETRY")
    sandbox.control("POST", "faults", json={"count": 2, "status": 503, "method": "POST", "path": f"{API}/orders"})
    order = adapter.create_order(cart, CUSTOMER, ADDRESS)
    assert [o["id"] for o in sandbox.orders()] == [int(order.external_id)]


def test_same_reference_for_another_customer_is_still_found(adapter: WooCommerceAdapter) -> None:
    """The reference lookup narrows by phone when the customer has no email."""
    phone_only = Customer(phone="+4917655501234", first_name="Max")
    first = _order(adapter, "wamid.PHONE", phone_only)
    again = _order(adapter, "wamid.PHONE", phone_only)
    assert again.external_id == first.external_id


def test_find_orders_by_phone_as_typed_in_the_shop(
    adapter: WooCommerceAdapter, sandbox: WooCommerceSandbox, api: requests.Session
) -> None:
    order = _order(adapter, "wamid.FIND")
    # The customer later fixes their phone in the shop, typed the national way.
    api.put(f"{sandbox.url}{API}/orders/{order.external_id}", json={"billing": {"phone": "0151 12345678"}})
    assert [o.external_id for o in adapter.find_orders(phone="+4915112345678")] == []  # spaces defeat the search
    api.put(f"{sandbox.url}{API}/orders/{order.external_id}", json={"billing": {"phone": "015112345678"}})
    assert [o.external_id for o in adapter.find_orders(phone="+4915112345678")] == [order.external_id]
    assert [o.external_id for o in adapter.find_orders(number=f"#{order.number}")] == [order.external_id]
    assert adapter.find_orders(number="999999") == []


def test_find_orders_newest_first_and_limited(adapter: WooCommerceAdapter) -> None:
    ids = [_order(adapter, f"wamid.MANY{i}").external_id for i in range(4)]
    found = [o.external_id for o in adapter.find_orders(email=CUSTOMER.email, limit=3)]
    assert found == ids[::-1][:3]


def test_get_unknown_order_is_not_found(adapter: WooCommerceAdapter) -> None:
    with pytest.raises(NotFound):
        adapter.get_order("999999")


def test_tracking_link_of_a_predefined_provider(adapter: WooCommerceAdapter, sandbox: WooCommerceSandbox) -> None:
    order = _order(adapter, "wamid.DHL")
    sandbox.ship_order(order.external_id, company="DHL", number="JJD000390007")
    shipped = adapter.get_order(order.external_id)
    assert shipped.status is OrderStatus.FULFILLED
    (fulfillment,) = shipped.fulfillments
    assert fulfillment.tracking_company == "DHL" and fulfillment.status is ShipmentStatus.IN_TRANSIT
    assert fulfillment.tracking_url == "https://www.dhl.com/en/express/tracking.html?AWB=JJD000390007&brand=DHL"


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("in_transit", ShipmentStatus.IN_TRANSIT),
        ("out_for_delivery", ShipmentStatus.OUT_FOR_DELIVERY),
        ("delayed", ShipmentStatus.DELAYED),
        ("failed", ShipmentStatus.FAILED),
        ("delivered", ShipmentStatus.DELIVERED),
    ],
)
def test_trackship_statuses(
    adapter: WooCommerceAdapter, sandbox: WooCommerceSandbox, state: str, expected: ShipmentStatus
) -> None:
    order = _order(adapter, f"wamid.TS.{state}")
    sandbox.ship_order(order.external_id, company="UPS", number="1Z999")
    sandbox.set_delivery_status(order.external_id, state)
    assert [f.status for f in adapter.get_order(order.external_id).fulfillments] == [expected]


def test_tracking_added_through_the_extension_api_refuses_address_changes(
    adapter: WooCommerceAdapter, sandbox: WooCommerceSandbox, api: requests.Session
) -> None:
    order = _order(adapter, "wamid.EXT")
    url = f"{sandbox.url}/wp-json/wc-shipment-tracking/v3/orders/{order.external_id}/shipment-trackings"
    missing = api.post(url, json={"tracking_provider": "UPS"})
    assert missing.status_code == 400 and missing.json()["code"] == "rest_missing_callback_param"
    created = api.post(url, json={"tracking_provider": "UPS", "tracking_number": "1Z42"})
    assert created.status_code == 201 and created.json()["tracking_link"].endswith("tracknum=1Z42")
    # The order is still "processing"/"pending" in WooCommerce, but a tracking number means it left.
    with pytest.raises(OrderAlreadyShipped, match="1Z42"):
        adapter.update_shipping_address(order.external_id, ADDRESS)


def test_order_webhook_carries_the_order(adapter: WooCommerceAdapter, sandbox: WooCommerceSandbox, recorder) -> None:
    adapter.register_webhooks(recorder.url + "/hook")
    order = _order(adapter, "wamid.HOOK")
    recorder.wait_for(len(adapter.webhook_topics) + 1)
    delivery = next(r for r in recorder.requests if r.headers.get("X-WC-Webhook-Topic") == "order.created")
    adapter.verify_webhook(delivery)
    (event,) = adapter.parse_webhook(delivery).events
    assert event.order is not None and event.order.external_id == order.external_id
    assert event.order.reference == "wamid.HOOK" and event.order.payment_url == order.payment_url
