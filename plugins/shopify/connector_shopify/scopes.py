"""The Admin API access scopes the connector needs, and what it needs each one for.

Sources: Shopify's access-scope guide ("any scope that writes a resource also grants read access to
it"), the 2025-01 and 2026-10 schemas' ``WebhookSubscriptionTopic`` descriptions (which scope each webhook topic
requires) and the per-field requirements in Shopify's reference (``orders``/``order``: read_orders,
``orderCreate``/``orderUpdate``: write_orders, products and variants: read_products; since
2025-01-22 ``InventoryItem`` is readable with read_products too).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

#: Scope handle -> what the connector does with it. Order matters: it is the order of the message.
REQUIRED: dict[str, str] = {
    "read_products": "reading products, variants and prices for the catalog sync, and the products/* webhooks",
    "read_inventory": "the inventory_levels/update webhook that keeps stock in the catalog current",
    "read_orders": "order lookups in chat, delivery tracking and the orders/* webhooks",
    "write_orders": "creating orders from a chat cart (orderCreate) and changing a shipping address (orderUpdate)",
    "read_fulfillments": "the fulfillments/* and fulfillment_events/create webhooks behind shipping updates",
}

_SCOPE = re.compile(r"\b((?:unauthenticated_)?(?:read|write)_[a-z_]+[a-z])\b")


def effective(granted: Iterable[str]) -> set[str]:
    """The scopes ``granted`` amounts to: every ``write_X`` also grants ``read_X``."""
    result = set(granted)
    for handle in list(result):
        action, _, resource = handle.partition("_")
        if action == "write" and resource:
            result.add(f"read_{resource}")
        elif action == "unauthenticated" and resource.startswith("write_"):
            result.add(f"unauthenticated_read_{resource.removeprefix('write_')}")
    return result


def missing(granted: Iterable[str]) -> list[str]:
    """The required scopes ``granted`` lacks (implied read scopes count as granted), in :data:`REQUIRED` order."""
    have = effective(granted)
    return [handle for handle in REQUIRED if handle not in have]


def explain(handles: Iterable[str]) -> str:
    """``read_orders for order lookups ...; write_orders for ...`` for a message to the shop owner."""
    return "; ".join(f"{h} for {REQUIRED[h]}" if h in REQUIRED else h for h in handles)


def named_in(text: str) -> list[str]:
    """Scope handles named in an error text such as "Required access: `read_orders` access scope."."""
    return list(dict.fromkeys(_SCOPE.findall(text or "")))
