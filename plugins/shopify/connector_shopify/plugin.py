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


@hookimpl
def connector_config_fields() -> list[Any]:
    """The Shopify app used for install by approval (``[plugins.shopify]``)."""
    from connector_shopify.connect import CONFIG_FIELDS

    return list(CONFIG_FIELDS)


@hookimpl
def connector_register_blueprints(app: Any) -> list[Any]:
    """The approval flows' routes, next to the dashboard's setup wizard."""
    settings = app.extensions["connector"].config.dashboard
    if not settings.enabled:
        return []
    from connector_shopify.connect import create_blueprint

    return [create_blueprint(settings.url_prefix)]
