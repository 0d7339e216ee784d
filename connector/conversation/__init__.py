"""The conversation engine: menu, browse and search, buying from a cart, order status, address changes, human handoff."""
