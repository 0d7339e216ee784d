"""A local Shopware 6 shop: the Admin API, the Store API checkout, app webhooks and a ``/_sandbox/`` control API."""

from connector_shopware.sandbox.sandbox import ShopwareSandbox

__all__ = ["ShopwareSandbox"]
