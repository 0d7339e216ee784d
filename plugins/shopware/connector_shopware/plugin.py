"""Hook implementations of the Shopware 6 plugin."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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


@hookimpl
def connector_config_fields() -> list[Any]:
    """The connector's Shopware app (``[plugins.shopware]``): its name and the secret its manifest carries."""
    from connector_shopware.registration import CONFIG_FIELDS

    return list(CONFIG_FIELDS)


@hookimpl
def connector_register_blueprints(app: Any) -> list[Any]:
    """The app registration handshake, the lifecycle webhooks, and the app zip download for the setup wizard."""
    from connector_shopware.registration import create_blueprints

    return create_blueprints(app.extensions["connector"].config.dashboard.url_prefix)
