"""The shop contract: the behaviour every shop plugin must show, proven the same way for each platform.

Each test runs once per shop plugin against that plugin's own sandbox, over real HTTP, and only uses
the :class:`~connector.sandbox.base.ShopSandbox` control methods and the
:class:`~connector.adapters.ShopAdapter` methods. Platform-specific checks (exact payloads, header
names, pagination edge cases) live in ``tests/plugins/<platform>/``.

Run one platform with ``pytest tests/contract -k woocommerce``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import requests
from werkzeug.datastructures import Headers

from connector.adapters import FieldType, ParsedWebhook, ShopAdapter, WebhookRequest
from connector.errors import ConnectionTestError, OrderAlreadyShipped, WebhookRejected
from connector.model import (
    Address,
    Availability,
    Cart,
    CartLine,
    Customer,
    Money,
    Order,
    OrderStatus,
    ShipmentStatus,
    ShopEvent,
    ShopEventKind,
    Variant,
)
from connector.plugins import Plugins
from connector.sandbox.base import ShopSandbox
from connector.sandbox.recorder import WebhookRecorder
from tests.conftest import WAIT_BOUND

PLATFORMS = ["woocommerce", "shopify", "shopware"]

CUSTOMER = Customer(phone="+4915112345678", email="erika.chat@example.com", first_name="Erika", last_name="Mustermann")
ADDRESS = Address(
    name="Erika Mustermann", line1="Hauptstrasse 1", postcode="10115", city="Berlin", country_code="DE", phone=""
)
NEW_ADDRESS = Address(name="Erika Mustermann", line1="Gartenweg 7", postcode="80331", city="Munich", country_code="DE")


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def plugins() -> Plugins:
    return Plugins()


@pytest.fixture(params=PLATFORMS)
def platform(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def adapter_cls(plugins: Plugins, platform: str) -> type[ShopAdapter]:
    adapters = plugins.shop_adapters
    if platform not in adapters:
        pytest.fail(f"no shop adapter named {platform!r} is registered (connector_register_shop_adapters)")
    return adapters[platform]


@pytest.fixture
def sandbox(plugins: Plugins, platform: str) -> Iterator[ShopSandbox]:
    sandboxes = plugins.sandboxes()
    if platform not in sandboxes:
        pytest.fail(f"no sandbox named {platform!r} is registered (connector_register_sandboxes)")
    with sandboxes[platform]() as sb:
        yield sb


@pytest.fixture
def adapter(adapter_cls: type[ShopAdapter], sandbox: ShopSandbox) -> ShopAdapter:
    return adapter_cls(adapter_cls.validate_settings(sandbox.connection_settings()))


@pytest.fixture
def recorder(adapter: ShopAdapter, sandbox: ShopSandbox) -> Iterator[WebhookRecorder]:
    """A local endpoint subscribed to the sandbox's webhooks, through the platform's API where it has one."""
    with WebhookRecorder() as rec:
        callback = rec.url + "/hook"
        try:
            adapter.register_webhooks(callback)
        except NotImplementedError:
            sandbox.subscribe_webhooks(callback)
        yield rec


# --------------------------------------------------------------------------- helpers


class Deliveries:
    """Reads what the recorder captured: answers setup pings, verifies and parses every delivery."""

    def __init__(self, recorder: WebhookRecorder, adapter: ShopAdapter):
        self.recorder = recorder
        self.adapter = adapter
        self.seen = 0

    def _next(self, deadline: float) -> WebhookRequest | None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        try:
            requests = self.recorder.wait_for(self.seen + 1, timeout=remaining)
        except TimeoutError:
            return None
        self.seen += 1
        return requests[self.seen - 1]

    def wait_for(
        self, predicate: Callable[[ShopEvent], bool], what: str, timeout: float = WAIT_BOUND
    ) -> tuple[WebhookRequest, ParsedWebhook, ShopEvent]:
        """The first delivery (after those already read) with an event matching ``predicate``."""
        deadline = time.monotonic() + timeout
        topics: list[str] = []
        while (request := self._next(deadline)) is not None:
            reply = self.adapter.handshake(request)
            if reply is not None:
                assert 200 <= reply.status < 300, f"a setup ping must be acknowledged, got {reply.status}"
                continue
            self.adapter.verify_webhook(request)
            parsed = self.adapter.parse_webhook(request)
            assert parsed.delivery_id, "every delivery needs a delivery id for deduplication"
            topics.append(parsed.topic)
            for event in parsed.events:
                if predicate(event):
                    return request, parsed, event
        raise AssertionError(f"no webhook reported {what}; topics received: {topics}")


def all_variants(adapter: ShopAdapter, **kwargs: Any) -> dict[str, Variant]:
    variants: dict[str, Variant] = {}
    for variant in adapter.iter_variants(**kwargs):
        assert variant.external_id not in variants, f"variant {variant.external_id} yielded twice"
        variants[variant.external_id] = variant
    return variants


def one_variant(adapter: ShopAdapter, variant_id: str) -> Variant:
    found = [v for v in adapter.get_variants([variant_id]) if v.external_id == variant_id]
    assert len(found) == 1, f"get_variants([{variant_id!r}]) returned {found}"
    return found[0]


def multi_variant_product(variants: dict[str, Variant]) -> list[Variant]:
    by_product: dict[str, list[Variant]] = {}
    for v in variants.values():
        by_product.setdefault(v.product_external_id, []).append(v)
    return next(vs for vs in by_product.values() if len(vs) > 1)


def in_stock(variants: dict[str, Variant], count: int) -> list[Variant]:
    """``count`` buyable variants of different products."""
    chosen: list[Variant] = []
    products: set[str] = set()
    for v in variants.values():
        if v.availability is Availability.IN_STOCK and v.published and v.product_external_id not in products:
            chosen.append(v)
            products.add(v.product_external_id)
        if len(chosen) == count:
            return chosen
    raise AssertionError("the seed catalog has too few buyable variants")


def concerns(event: ShopEvent, variant: Variant) -> bool:
    return (
        variant.external_id in (event.object_id, *event.variant_ids) or event.object_id == variant.product_external_id
    )


def new_cart(adapter: ShopAdapter, reference: str, quantities: tuple[int, ...] = (2, 1)) -> tuple[Cart, list[Variant]]:
    chosen = in_stock(all_variants(adapter), len(quantities))
    lines = [CartLine(v.external_id, q) for v, q in zip(chosen, quantities, strict=True)]
    return Cart(lines=lines, reference=reference), chosen


def tampered(
    request: WebhookRequest, *, body: bytes | None = None, headers: dict[str, str] | None = None
) -> WebhookRequest:
    new_headers = Headers(list(request.headers.items()))
    for name, value in (headers or {}).items():
        new_headers[name] = value
    return replace(request, body=request.body if body is None else body, headers=new_headers)


def signature_headers(request: WebhookRequest) -> list[str]:
    return [name for name, _ in request.headers.items() if "signature" in name.lower() or "hmac" in name.lower()]


# --------------------------------------------------------------------------- connection


def test_settings_are_declared_and_validated(adapter_cls: type[ShopAdapter], sandbox: ShopSandbox) -> None:
    assert adapter_cls.config_fields, "the owner must be told which settings to enter"
    cleaned = adapter_cls.validate_settings(sandbox.connection_settings())
    assert set(cleaned) == {f.name for f in adapter_cls.config_fields}
    with pytest.raises(Exception) as excinfo:
        adapter_cls.validate_settings({})
    assert any(f.name in str(excinfo.value) for f in adapter_cls.config_fields if f.required)


def test_connection_works(adapter: ShopAdapter) -> None:
    info = adapter.test_connection()
    assert info.name


def test_bad_credentials_give_a_clear_connection_error(adapter_cls: type[ShopAdapter], sandbox: ShopSandbox) -> None:
    settings = dict(sandbox.connection_settings())
    secrets = [f.name for f in adapter_cls.config_fields if f.type is FieldType.SECRET and settings.get(f.name)]
    assert secrets, "credentials must be declared as secret settings"
    for name in secrets:
        settings[name] = f"wrong{settings[name]}"
    adapter = adapter_cls(adapter_cls.validate_settings(settings))
    with pytest.raises(ConnectionTestError) as excinfo:
        adapter.test_connection()
    assert len(str(excinfo.value)) > 20, "the error must say what to fix"


def test_unreachable_shop_gives_a_clear_connection_error(adapter_cls: type[ShopAdapter], sandbox: ShopSandbox) -> None:
    settings = dict(sandbox.connection_settings())
    url_fields = [f.name for f in adapter_cls.config_fields if f.type is FieldType.URL]
    assert url_fields, "the shop URL must be a URL setting"
    for name in url_fields:
        settings[name] = "http://127.0.0.1:9"  # discard port: nothing listens there
    adapter = adapter_cls(adapter_cls.validate_settings(settings))
    with pytest.raises(ConnectionTestError):
        adapter.test_connection()


# --------------------------------------------------------------------------- catalog read


def test_full_read_yields_every_variant_once(adapter: ShopAdapter, sandbox: ShopSandbox) -> None:
    variants = all_variants(adapter)
    assert set(variants) == set(sandbox.variant_ids())
    for v in variants.values():
        assert isinstance(v.price, Money) and v.price.amount > 0
        assert v.title and v.product_external_id and v.group_id
        assert v.link.startswith(("http://", "https://"))
        assert v.image_url and v.image_url.startswith(("http://", "https://"))
        assert isinstance(v.availability, Availability)
        if v.sale_price is not None:
            assert v.sale_price.amount < v.price.amount
            assert v.effective_price == v.sale_price


def test_product_images_are_served_by_the_sandbox(adapter: ShopAdapter, sandbox: ShopSandbox) -> None:
    """The image URLs the connector stores (and sends to the Meta catalog) load: a PNG from the shop itself."""
    urls = {v.image_url for v in all_variants(adapter).values() if v.image_url}
    assert urls and all(url.startswith(sandbox.url + "/") for url in urls)
    for url in sorted(urls)[:5]:
        response = requests.get(url, timeout=30)
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "image/png"
        assert response.content.startswith(b"\x89PNG\r\n\x1a\n")
        assert "max-age" in response.headers["Cache-Control"]
        again = requests.get(url, headers={"If-None-Match": response.headers["ETag"]}, timeout=30)
        assert again.status_code == 304
    missing = sorted(urls)[0].rsplit("/", 1)[0] + "/no-such-product.png"
    assert requests.get(missing, timeout=30).status_code == 404


def test_simple_and_variable_products(adapter: ShopAdapter) -> None:
    variants = all_variants(adapter)
    counts: dict[str, int] = {}
    for v in variants.values():
        counts[v.product_external_id] = counts.get(v.product_external_id, 0) + 1
    simple = [v for v in variants.values() if counts[v.product_external_id] == 1]
    assert simple and all(v.external_id == v.product_external_id for v in simple)
    group = multi_variant_product(variants)
    assert len({v.external_id for v in group}) == len(group)
    assert all(v.group_id == group[0].group_id for v in group)
    assert all(v.attributes for v in group), "variants of one product differ by their options"


def test_sold_out_variant_is_kept_as_out_of_stock(adapter: ShopAdapter, sandbox: ShopSandbox) -> None:
    variant = in_stock(all_variants(adapter), 1)[0]
    sandbox.set_stock(variant.external_id, 0)
    after = all_variants(adapter)
    assert variant.external_id in after, "sold-out variants must not be dropped"
    assert after[variant.external_id].availability is Availability.OUT_OF_STOCK
    assert after[variant.external_id].stock_quantity == 0
    sandbox.set_stock(variant.external_id, 5)
    again = one_variant(adapter, variant.external_id)
    assert again.availability is Availability.IN_STOCK and again.stock_quantity == 5


def test_ids_are_stable_when_the_sku_changes(adapter: ShopAdapter, sandbox: ShopSandbox) -> None:
    before = all_variants(adapter)
    variant = multi_variant_product(before)[0]
    sandbox.set_sku(variant.external_id, "RENAMED-SKU-1")
    after = all_variants(adapter)
    assert set(after) == set(before)
    assert after[variant.external_id].sku == "RENAMED-SKU-1"
    assert after[variant.external_id].product_external_id == variant.product_external_id


def test_price_and_sale_price_are_read(adapter: ShopAdapter, sandbox: ShopSandbox) -> None:
    variant = multi_variant_product(all_variants(adapter))[0]
    sandbox.set_price(variant.external_id, Decimal("49.90"), Decimal("39.90"))
    v = one_variant(adapter, variant.external_id)
    assert v.price.amount == Decimal("49.90") and v.sale_price is not None and v.sale_price.amount == Decimal("39.90")
    assert v.effective_price.amount == Decimal("39.90")
    sandbox.set_price(variant.external_id, Decimal("45.00"), None)
    v = one_variant(adapter, variant.external_id)
    assert v.price.amount == Decimal("45.00") and v.sale_price is None


def test_unpublished_products_are_yielded_unpublished(adapter: ShopAdapter, sandbox: ShopSandbox) -> None:
    group = multi_variant_product(all_variants(adapter))
    product_id = group[0].product_external_id
    sandbox.set_published(product_id, False)
    after = all_variants(adapter)
    assert {v.external_id for v in group} <= set(after)
    assert all(not after[v.external_id].published for v in group)
    sandbox.set_published(product_id, True)
    assert all(v.published for v in adapter.get_variants([product_id]))


def test_get_variants_by_variant_or_product_id(adapter: ShopAdapter) -> None:
    variants = all_variants(adapter)
    group = multi_variant_product(variants)
    by_product = {v.external_id for v in adapter.get_variants([group[0].product_external_id])}
    assert by_product == {v.external_id for v in group}
    simple = next(v for v in variants.values() if v.external_id == v.product_external_id)
    picked = adapter.get_variants([group[1].external_id, simple.external_id])
    assert {v.external_id for v in picked} == {group[1].external_id, simple.external_id}


def test_incremental_read_returns_only_what_changed(adapter: ShopAdapter, sandbox: ShopSandbox) -> None:
    variants = all_variants(adapter)
    group = multi_variant_product(variants)
    untouched = [v for v in variants.values() if v.product_external_id != group[0].product_external_id]
    time.sleep(1.1)  # platforms keep timestamps to the second: put the seed clearly before `since`
    since = datetime.now(UTC)
    sandbox.set_stock(group[0].external_id, 3)
    changed = all_variants(adapter, updated_since=since)
    assert group[0].external_id in changed
    assert changed[group[0].external_id].stock_quantity == 3
    assert not {v.external_id for v in untouched} & set(changed), "unchanged products must not be read again"


def test_deleted_product_leaves_the_full_read(adapter: ShopAdapter, sandbox: ShopSandbox) -> None:
    group = multi_variant_product(all_variants(adapter))
    sandbox.delete_product(group[0].product_external_id)
    after = all_variants(adapter)
    assert not {v.external_id for v in group} & set(after)
    assert set(after) == set(sandbox.variant_ids())


# --------------------------------------------------------------------------- faults


@pytest.mark.parametrize("status", [503, 500, 429])
def test_transient_failures_are_retried(adapter: ShopAdapter, sandbox: ShopSandbox, status: int) -> None:
    expected = set(sandbox.variant_ids())
    sandbox.fail_next(2, status)
    assert set(all_variants(adapter)) == expected


# --------------------------------------------------------------------------- webhooks


def test_stock_change_webhook(adapter: ShopAdapter, sandbox: ShopSandbox, recorder: WebhookRecorder) -> None:
    variant = multi_variant_product(all_variants(adapter))[0]
    sandbox.set_stock(variant.external_id, 0)
    _, _, event = Deliveries(recorder, adapter).wait_for(
        lambda e: e.kind in (ShopEventKind.STOCK_CHANGED, ShopEventKind.PRODUCT_CHANGED) and concerns(e, variant),
        "the stock change",
    )
    if event.kind is ShopEventKind.STOCK_CHANGED and event.stock_quantity is not None:
        assert event.stock_quantity == 0


def test_price_change_webhook(adapter: ShopAdapter, sandbox: ShopSandbox, recorder: WebhookRecorder) -> None:
    variant = multi_variant_product(all_variants(adapter))[0]
    sandbox.set_price(variant.external_id, Decimal("12.34"))
    Deliveries(recorder, adapter).wait_for(
        lambda e: e.kind is ShopEventKind.PRODUCT_CHANGED and concerns(e, variant), "the price change"
    )


def test_unpublish_webhook(adapter: ShopAdapter, sandbox: ShopSandbox, recorder: WebhookRecorder) -> None:
    variant = multi_variant_product(all_variants(adapter))[0]
    sandbox.set_published(variant.product_external_id, False)
    Deliveries(recorder, adapter).wait_for(
        lambda e: e.kind is ShopEventKind.PRODUCT_CHANGED and concerns(e, variant), "the unpublished product"
    )


def test_delete_webhook(adapter: ShopAdapter, sandbox: ShopSandbox, recorder: WebhookRecorder) -> None:
    variant = multi_variant_product(all_variants(adapter))[0]
    sandbox.delete_product(variant.product_external_id)
    Deliveries(recorder, adapter).wait_for(
        lambda e: e.kind is ShopEventKind.PRODUCT_DELETED and e.object_id == variant.product_external_id,
        "the deleted product",
    )


def test_order_and_fulfillment_webhooks(adapter: ShopAdapter, sandbox: ShopSandbox, recorder: WebhookRecorder) -> None:
    cart, _ = new_cart(adapter, "contract-webhook-order")
    order = adapter.create_order(cart, CUSTOMER, ADDRESS)
    deliveries = Deliveries(recorder, adapter)
    sandbox.ship_order(order.external_id, company="DHL", number="00340434161094042557")
    _, _, event = deliveries.wait_for(
        lambda e: (
            e.kind in (ShopEventKind.ORDER_CHANGED, ShopEventKind.FULFILLMENT_CHANGED)
            and e.object_id == order.external_id
            and (e.fulfillment is not None or (e.order is not None and e.order.shipped))
        ),
        "the shipped order",
    )
    if event.order is not None:
        assert event.order.external_id == order.external_id
    sandbox.set_delivery_status(order.external_id, "delivered")
    deliveries.wait_for(
        lambda e: (
            e.kind in (ShopEventKind.ORDER_CHANGED, ShopEventKind.FULFILLMENT_CHANGED)
            and e.object_id == order.external_id
        ),
        "the delivered order",
    )


def test_forged_webhooks_are_rejected(adapter: ShopAdapter, sandbox: ShopSandbox, recorder: WebhookRecorder) -> None:
    variant = multi_variant_product(all_variants(adapter))[0]
    sandbox.set_stock(variant.external_id, 9)
    request, _, _ = Deliveries(recorder, adapter).wait_for(lambda e: concerns(e, variant), "the stock change")

    # Same signature, tampered body (still valid JSON).
    body = request.body.replace(b"{", b"{ ", 1)
    assert body != request.body
    with pytest.raises(WebhookRejected) as excinfo:
        adapter.verify_webhook(tampered(request, body=body))
    assert excinfo.value.status in (401, 403)

    # Same body, wrong signature.
    names = signature_headers(request)
    assert names, "the signature travels in a header"
    forged = {name: "A" * len(request.headers[name]) for name in names}
    with pytest.raises(WebhookRejected) as excinfo:
        adapter.verify_webhook(tampered(request, headers=forged))
    assert excinfo.value.status in (401, 403)

    # No signature at all.
    unsigned = Headers([(k, v) for k, v in request.headers.items() if k not in names])
    with pytest.raises(WebhookRejected) as excinfo:
        adapter.verify_webhook(replace(request, headers=unsigned))
    assert excinfo.value.status in (401, 403)


def test_malformed_delivery_is_a_400(adapter: ShopAdapter, sandbox: ShopSandbox, recorder: WebhookRecorder) -> None:
    variant = multi_variant_product(all_variants(adapter))[0]
    sandbox.set_stock(variant.external_id, 8)
    request, _, _ = Deliveries(recorder, adapter).wait_for(lambda e: concerns(e, variant), "the stock change")
    with pytest.raises(WebhookRejected) as excinfo:
        adapter.parse_webhook(replace(request, body=b"{not json"))
    assert excinfo.value.status == 400


def test_redelivery_keeps_its_delivery_id(
    adapter: ShopAdapter, sandbox: ShopSandbox, recorder: WebhookRecorder
) -> None:
    group = multi_variant_product(all_variants(adapter))
    deliveries = Deliveries(recorder, adapter)
    sandbox.set_stock(group[0].external_id, 4)
    first, parsed_first, _ = deliveries.wait_for(lambda e: concerns(e, group[0]), "the first stock change")
    sandbox.set_stock(group[1].external_id, 6)
    _, parsed_second, _ = deliveries.wait_for(lambda e: concerns(e, group[1]), "the second stock change")
    assert parsed_first.delivery_id != parsed_second.delivery_id, "two deliveries need two delivery ids"
    # The platform re-sending the same delivery: same bytes, same headers.
    adapter.verify_webhook(first)
    again = adapter.parse_webhook(first)
    assert again.delivery_id == parsed_first.delivery_id
    assert again.topic == parsed_first.topic


# --------------------------------------------------------------------------- orders


def test_create_order_is_pending_with_a_payment_link(adapter: ShopAdapter, sandbox: ShopSandbox) -> None:
    cart, chosen = new_cart(adapter, "contract-create-1")
    order = adapter.create_order(cart, CUSTOMER, ADDRESS)
    assert order.status is OrderStatus.PENDING
    assert order.payment_url and order.payment_url.startswith(("http://", "https://"))
    assert order.number
    assert {(line.variant_external_id, line.quantity) for line in order.lines} == {
        (line.variant_external_id, line.quantity) for line in cart.lines
    }
    expected_total = sum(
        (v.effective_price * q for v, q in zip(chosen, (2, 1), strict=True)), Money(0, order.total.currency)
    )
    assert order.total.amount >= expected_total.amount  # shipping or tax may come on top
    assert order.shipping_address is not None and order.shipping_address.city == "Berlin"
    assert order.customer.email == CUSTOMER.email


def test_create_order_is_idempotent_on_the_cart_reference(adapter: ShopAdapter, sandbox: ShopSandbox) -> None:
    cart, _ = new_cart(adapter, "contract-idem-1")
    before = len(sandbox.orders())
    first = adapter.create_order(cart, CUSTOMER, ADDRESS)
    second = adapter.create_order(cart, CUSTOMER, ADDRESS)
    assert second.external_id == first.external_id
    assert second.payment_url == first.payment_url
    assert len(sandbox.orders()) == before + 1, "a retried cart must not create a second order"
    other = adapter.create_order(replace(cart, reference="contract-idem-2"), CUSTOMER, ADDRESS)
    assert other.external_id != first.external_id
    assert len(sandbox.orders()) == before + 2


def test_create_order_survives_a_server_error(adapter: ShopAdapter, sandbox: ShopSandbox) -> None:
    cart, _ = new_cart(adapter, "contract-idem-5xx")
    before = len(sandbox.orders())
    sandbox.fail_next(1, 503)
    order = adapter.create_order(cart, CUSTOMER, ADDRESS)
    assert order.status is OrderStatus.PENDING
    assert len(sandbox.orders()) == before + 1


def test_find_and_get_orders(adapter: ShopAdapter) -> None:
    cart, _ = new_cart(adapter, "contract-find-1")
    order = adapter.create_order(cart, CUSTOMER, ADDRESS)
    other_customer = Customer(phone="+4917612345678", email="someone.else@example.com", first_name="Max", last_name="M")
    other = adapter.create_order(replace(cart, reference="contract-find-2"), other_customer, ADDRESS)

    def ids(orders: list[Order]) -> list[str]:
        return [o.external_id for o in orders]

    by_email = ids(adapter.find_orders(email=CUSTOMER.email))
    assert order.external_id in by_email and other.external_id not in by_email
    by_phone = ids(adapter.find_orders(phone=CUSTOMER.phone))
    assert order.external_id in by_phone and other.external_id not in by_phone
    assert ids(adapter.find_orders(number=order.number)) == [order.external_id]
    assert ids(adapter.find_orders(email="nobody@example.com")) == []

    fetched = adapter.get_order(order.external_id)
    assert fetched.external_id == order.external_id and fetched.number == order.number
    assert fetched.total == order.total
    assert fetched.fulfillments == []
    assert fetched.reference == cart.reference


def test_address_change_before_shipping_and_refusal_after(adapter: ShopAdapter, sandbox: ShopSandbox) -> None:
    cart, _ = new_cart(adapter, "contract-address-1")
    order = adapter.create_order(cart, CUSTOMER, ADDRESS)
    updated = adapter.update_shipping_address(order.external_id, NEW_ADDRESS)
    assert updated.shipping_address is not None
    assert (updated.shipping_address.line1, updated.shipping_address.city) == ("Gartenweg 7", "Munich")
    fetched = adapter.get_order(order.external_id)
    assert fetched.shipping_address is not None and fetched.shipping_address.postcode == "80331"

    sandbox.ship_order(order.external_id, company="DHL", number="00340434161094042557")
    with pytest.raises(OrderAlreadyShipped):
        adapter.update_shipping_address(order.external_id, ADDRESS)
    still = adapter.get_order(order.external_id)
    assert still.shipping_address is not None and still.shipping_address.city == "Munich"


def test_tracking_is_reported(adapter: ShopAdapter, sandbox: ShopSandbox) -> None:
    cart, _ = new_cart(adapter, "contract-tracking-1")
    order = adapter.create_order(cart, CUSTOMER, ADDRESS)
    url = "https://tracking.example.com/track?n=1Z999AA10123456784"
    sandbox.ship_order(order.external_id, company="UPS", number="1Z999AA10123456784", url=url)
    shipped = adapter.get_order(order.external_id)
    assert shipped.shipped
    assert len(shipped.fulfillments) == 1
    fulfillment = shipped.fulfillments[0]
    assert fulfillment.tracking_number == "1Z999AA10123456784"
    assert fulfillment.tracking_url == url
    assert fulfillment.tracking_company and "ups" in fulfillment.tracking_company.lower()

    sandbox.set_delivery_status(order.external_id, "delivered")
    delivered = adapter.get_order(order.external_id)
    assert max(f.status.rank for f in delivered.fulfillments) == ShipmentStatus.DELIVERED.rank
