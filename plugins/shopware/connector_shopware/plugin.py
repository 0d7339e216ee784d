"""Hook implementations of the Shopware 6 plugin."""

from __future__ import annotations

from collections.abc import Sequence

from connector import hookimpl
from connector.adapters import ShopAdapter
from connector.sandbox.base import Sandbox


@hookimpl
def connector_register_shop_adapters() -> Sequence[type[ShopAdapter]]:
    from connector_shopware.adapter import ShopwareAdapter

    return [ShopwareAdapter]


@hookimpl
def connector_register_sandboxes() -> Sequence[type[Sandbox]]:
    from connector_shopware.sandbox import ShopwareSandbox

    return [ShopwareSandbox]
