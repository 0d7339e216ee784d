"""Shopify (GraphQL Admin API) shop plugin."""
