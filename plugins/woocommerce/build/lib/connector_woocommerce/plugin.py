"""Hook implementations of the WooCommerce plugin: the shop adapter and its sandbox."""

from __future__ import annotations

from connector import hookimpl

from .adapter import WooCommerceAdapter
from .sandbox import WooCommerceSandbox


@hookimpl
def connector_register_shop_adapters() -> list[type]:
    return [WooCommerceAdapter]


@hookimpl
def connector_register_sandboxes() -> list[type]:
    return [WooCommerceSandbox]
