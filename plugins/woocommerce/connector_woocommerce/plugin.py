"""Hook implementations of the WooCommerce plugin: the shop adapter and its sandbox."""

from __future__ import annotations

from typing import Any

from connector import hookimpl

from .adapter import WooCommerceAdapter
from .sandbox import WooCommerceSandbox


@hookimpl
def connector_register_shop_adapters() -> list[type]:
    return [WooCommerceAdapter]


@hookimpl
def connector_register_sandboxes() -> list[type]:
    return [WooCommerceSandbox]


@hookimpl
def connector_register_blueprints(app: Any) -> list[Any]:
    """The approval flow's routes: the owner's (next to the setup wizard) and WooCommerce's key callback."""
    settings = app.extensions["connector"].config.dashboard
    if not settings.enabled:
        return []
    from .connect import create_blueprints

    return create_blueprints(settings.url_prefix)
