"""The Shopify sandbox: a local Admin GraphQL API validated against the real 2026-10 schema."""

from connector_shopify.sandbox.sandbox import ShopifySandbox

__all__ = ["ShopifySandbox"]
