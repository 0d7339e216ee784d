"""Catalog sync: from the shop into channel catalogs."""
