"""Shopware 6 (Admin API) shop plugin."""
