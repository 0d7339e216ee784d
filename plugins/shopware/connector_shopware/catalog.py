"""Shopware products as canonical variants.

A product with variants (``childCount > 0``) is a container: its children are the variants. A
product without variants is its own single variant. Ids are Shopware's UUIDs, so a new product
number (SKU) or a new cover image never changes an id.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from connector.model import Availability, Money, Variant

#: Shopware's default currency id (``Shopware\Core\Defaults::CURRENCY``); every price list has an entry for it.
DEFAULT_CURRENCY_ID = "b7d2554b0ce847cd82f3ac9bd1c0dfca"

#: What one product search loads (``sw-inheritance: 1`` fills in what variants inherit from their parent).
PRODUCT_ASSOCIATIONS: dict[str, Any] = {
    "cover": {},
    "media": {},
    "options": {"associations": {"group": {}}},
    "seoUrls": {},
    "manufacturer": {},
    "categories": {},
}


def parse_datetime(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def is_variant(product: dict[str, Any]) -> bool:
    """Whether a product row is something a customer can buy (a variant, or a product without variants)."""
    return bool(product.get("parentId")) or not product.get("childCount")


def _price(product: dict[str, Any], currencies: dict[str, str]) -> tuple[Money, Money | None]:
    prices = product.get("price") or []
    entry = next((p for p in prices if p.get("currencyId") == DEFAULT_CURRENCY_ID), prices[0] if prices else None)
    if entry is None:
        raise ValueError(f"product {product.get('id')} has no price")
    currency = currencies.get(entry.get("currencyId", ""), "EUR")
    gross = Money(Decimal(str(entry["gross"])), currency)
    list_price = entry.get("listPrice")
    if list_price and list_price.get("gross") is not None:
        was = Money(Decimal(str(list_price["gross"])), currency)
        if was.amount > gross.amount:
            # The listPrice is the "was" price: it is the price, and what the shop charges is the sale price.
            return was, gross
    return gross, None


def _availability(product: dict[str, Any]) -> tuple[Availability, int]:
    available_stock = int(product.get("availableStock") or 0)
    if available_stock > 0:
        return Availability.IN_STOCK, available_stock
    # Without closeout Shopware lets customers order beyond the stock (a backorder).
    if product.get("isCloseout") is False:
        return Availability.AVAILABLE_FOR_ORDER, available_stock
    return Availability.OUT_OF_STOCK, available_stock


def _link(product: dict[str, Any], storefront_url: str) -> str:
    urls = product.get("seoUrls") or []
    canonical = next((u for u in urls if u.get("isCanonical")), urls[0] if urls else None)
    if canonical and canonical.get("seoPathInfo"):
        return f"{storefront_url}/{canonical['seoPathInfo'].lstrip('/')}"
    return f"{storefront_url}/detail/{product['id']}"


def _media_url(product_media: dict[str, Any] | None) -> str | None:
    media = (product_media or {}).get("media") or {}
    return media.get("url") or None


def to_variant(product: dict[str, Any], *, currencies: dict[str, str], storefront_url: str) -> Variant:
    """One product row (read with ``sw-inheritance: 1``) as a canonical variant."""
    product_id = product["id"]
    parent_id = product.get("parentId") or product_id
    price, sale_price = _price(product, currencies)
    availability, stock = _availability(product)
    translated = product.get("translated") or {}
    cover = _media_url(product.get("cover"))
    extra = [u for u in (_media_url(m) for m in product.get("media") or []) if u and u != cover]
    attributes = {}
    for option in product.get("options") or []:
        group = (option.get("group") or {}).get("translated", {}).get("name") or (option.get("group") or {}).get("name")
        name = (option.get("translated") or {}).get("name") or option.get("name")
        if group and name:
            attributes[str(group)] = str(name)
    return Variant(
        external_id=product_id,
        product_external_id=parent_id,
        title=translated.get("name") or product.get("name") or product.get("productNumber") or product_id,
        price=price,
        sale_price=sale_price,
        availability=availability,
        stock_quantity=stock,
        sku=product.get("productNumber"),
        description=translated.get("description") or product.get("description") or "",
        link=_link(product, storefront_url),
        image_url=cover,
        additional_image_urls=extra,
        brand=(product.get("manufacturer") or {}).get("name"),
        attributes=attributes,
        collections=[c["name"] for c in product.get("categories") or [] if c.get("name")],
        published=bool(product.get("active")),
        gtin=product.get("ean") or None,
        updated_at=parse_datetime(product.get("updatedAt") or product.get("createdAt")),
    )
