"""Fixtures for the Shopware plugin tests: a sandbox shop, an adapter connected to it, a webhook recorder."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from connector_shopware.adapter import ShopwareAdapter
from connector_shopware.sandbox import ShopwareSandbox

from connector.model import Address, Cart, CartLine, Customer, Order
from connector.sandbox.recorder import WebhookRecorder


@pytest.fixture
def sandbox() -> Iterator[ShopwareSandbox]:
    with ShopwareSandbox() as sb:
        yield sb


@pytest.fixture
def adapter(sandbox: ShopwareSandbox) -> ShopwareAdapter:
    return ShopwareAdapter(ShopwareAdapter.validate_settings(sandbox.connection_settings()))


@pytest.fixture
def recorder(adapter: ShopwareAdapter) -> Iterator[WebhookRecorder]:
    with WebhookRecorder() as rec:
        adapter.register_webhooks(rec.url + "/hook")
        yield rec


CUSTOMER = Customer(phone="+4915112345678", email="erika@example.com", first_name="Erika", last_name="Mustermann")
ADDRESS = Address(name="Erika Mustermann", line1="Hauptstrasse 1", postcode="10115", city="Berlin", country_code="DE")


def buyable(adapter: ShopwareAdapter, count: int = 1) -> list[str]:
    """Ids of ``count`` published, in-stock variants."""
    ids = [v.external_id for v in adapter.iter_variants() if v.published and (v.stock_quantity or 0) > 2]
    return ids[:count]


@pytest.fixture
def placed_order() -> Callable[..., Order]:
    """Place a chat order for one in-stock variant with the given cart reference."""

    def place(adapter: ShopwareAdapter, reference: str, customer: Customer = CUSTOMER) -> Order:
        cart = Cart(lines=[CartLine(buyable(adapter)[0], 1)], reference=reference)
        return adapter.create_order(cart, customer, ADDRESS)

    return place
