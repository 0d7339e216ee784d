"""How the sandbox shapes Shopware entities as JSON: inheritance, associations and order snapshots.

Records are kept as Shopware stores them (a variant holds ``null`` where it inherits from its parent);
:func:`product_json` applies inheritance only when the client asks with ``sw-inheritance: 1``, and
leaves out associations that were not requested, like the real DAL.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

#: Product fields a variant inherits when its own value is null.
INHERITED = ("name", "description", "price", "active", "isCloseout", "manufacturerId", "coverId", "ean", "categoryIds")
#: Product associations the sandbox can load; anything else is refused like an unknown association.
PRODUCT_ASSOCIATIONS = frozenset(
    {"cover", "media", "options", "seoUrls", "manufacturer", "categories", "children", "prices"}
)
ORDER_ASSOCIATIONS = frozenset(
    {
        "lineItems",
        "deliveries",
        "addresses",
        "billingAddress",
        "transactions",
        "currency",
        "orderCustomer",
        "stateMachineState",
    }
)


def iso(value: datetime | None) -> str | None:
    """Shopware's date format: ``2026-05-01T10:00:00.123+00:00``."""
    return None if value is None else value.isoformat(timespec="milliseconds")


def effective(record: dict[str, Any], parent: dict[str, Any] | None, key: str) -> Any:
    value = record.get(key)
    if value is None and parent is not None and key in INHERITED:
        return parent.get(key)
    return value


def product_json(
    record: dict[str, Any],
    parent: dict[str, Any] | None,
    *,
    inherit: bool,
    associations: dict[str, Any],
    media: dict[str, dict[str, Any]],
    groups: dict[str, dict[str, Any]],
    options: dict[str, dict[str, Any]],
    manufacturers: dict[str, dict[str, Any]],
    categories: dict[str, dict[str, Any]],
    seo_urls: dict[str, list[dict[str, Any]]],
) -> dict[str, Any]:
    """One product as ``POST /api/search/product`` returns it (the ``application/json`` flavour)."""
    src = parent if inherit else None

    def get(key: str) -> Any:
        return effective(record, src, key)

    name = get("name")
    description = get("description")
    out: dict[str, Any] = {
        "id": record["id"],
        "versionId": record["versionId"],
        "parentId": record["parentId"],
        "childCount": record["childCount"],
        "productNumber": record["productNumber"],
        "stock": record["stock"],
        "availableStock": record["availableStock"],
        "available": record["available"],
        "isCloseout": get("isCloseout"),
        "active": get("active"),
        "price": get("price"),
        "ean": get("ean"),
        "manufacturerId": get("manufacturerId"),
        "coverId": get("coverId"),
        "optionIds": record["optionIds"],
        "categoryIds": get("categoryIds"),
        "name": name,
        "description": description,
        "translated": {"name": name, "description": description},
        "createdAt": iso(record["createdAt"]),
        "updatedAt": iso(record["updatedAt"]),
        "apiAlias": "product",
    }
    if "cover" in associations:
        cover_id = out["coverId"]
        out["cover"] = (
            {
                "id": cover_id,
                "mediaId": cover_id,
                "position": 0,
                "media": media.get(cover_id),
                "apiAlias": "product_media",
            }
            if cover_id
            else None
        )
    if "media" in associations:
        media_ids = record.get("mediaIds") or ((parent or {}).get("mediaIds") if inherit else None) or []
        out["media"] = [
            {"id": m, "mediaId": m, "position": i, "media": media.get(m), "apiAlias": "product_media"}
            for i, m in enumerate(media_ids)
        ]
    if "options" in associations:
        with_group = "group" in ((associations.get("options") or {}).get("associations") or {})
        out["options"] = []
        for option_id in record["optionIds"]:
            option = dict(options[option_id])
            option["group"] = groups[option["groupId"]] if with_group else None
            out["options"].append(option)
    if "manufacturer" in associations:
        out["manufacturer"] = manufacturers.get(out["manufacturerId"] or "")
    if "categories" in associations:
        out["categories"] = [categories[c] for c in out["categoryIds"] or () if c in categories]
    if "seoUrls" in associations:
        out["seoUrls"] = seo_urls.get(record["id"], [])
    if "prices" in associations:
        out["prices"] = []  # advanced (rule-based) prices: the sandbox has none
    if "children" in associations:
        out["children"] = None  # filled by the caller, which knows the children
    return out


def prune_order(order: dict[str, Any], associations: dict[str, Any]) -> dict[str, Any]:
    """An order with only the associations the criteria asked for (Shopware 6.6 leaves state objects null)."""
    out = dict(order)
    for key in ("lineItems", "deliveries", "addresses", "billingAddress", "transactions"):
        if key not in associations:
            out[key] = None
    if "deliveries" in associations and out["deliveries"] is not None:
        nested = (associations.get("deliveries") or {}).get("associations") or {}
        deliveries = []
        for delivery in out["deliveries"]:
            d = dict(delivery)
            for key in ("stateMachineState", "shippingOrderAddress", "shippingMethod"):
                if key not in nested:
                    d[key] = None
            deliveries.append(d)
        out["deliveries"] = deliveries
    if "transactions" in associations and out["transactions"] is not None:
        nested = (associations.get("transactions") or {}).get("associations") or {}
        out["transactions"] = [
            {**t, "stateMachineState": t["stateMachineState"] if "stateMachineState" in nested else None}
            for t in out["transactions"]
        ]
    return out
