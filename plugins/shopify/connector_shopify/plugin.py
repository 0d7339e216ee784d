"""Hook implementations of the Shopify plugin: the shop adapter and its sandbox."""

from __future__ import annotations

from typing import Any

from connector import hookimpl


@hookimpl
def connector_register_shop_adapters() -> list[type[Any]]:
    from connector_shopify.adapter import ShopifyAdapter

    return [ShopifyAdapter]


@hookimpl
def connector_register_sandboxes() -> list[type[Any]]:
    from connector_shopify.sandbox import ShopifySandbox

    return [ShopifySandbox]
