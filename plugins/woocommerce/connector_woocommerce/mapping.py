"""Translate WooCommerce REST v3 JSON (products, variations, orders) into the canonical model.

Pure functions, no I/O: the webhook parser and the catalog reader share them.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from connector.model import (
    Address,
    Availability,
    Customer,
    Fulfillment,
    Money,
    Order,
    OrderLine,
    OrderStatus,
    ShipmentStatus,
    Variant,
)
from connector.timestamps import iso_or_none

#: Order meta key holding the chat cart reference (visible in REST: no leading underscore).
REFERENCE_META_KEY = "chatshop_cart_reference"
#: Order meta key the Shipment Tracking extensions store their items under.
TRACKING_META_KEY = "_wc_shipment_tracking_items"
#: Order meta key TrackShip (Advanced Shipment Tracking) stores carrier statuses under, one per tracking item.
SHIPMENT_STATUS_META_KEY = "shipment_status"

_TAG = re.compile(r"<[^>]+>")

_AVAILABILITY = {
    "instock": Availability.IN_STOCK,
    "outofstock": Availability.OUT_OF_STOCK,
    "onbackorder": Availability.AVAILABLE_FOR_ORDER,
}

_ORDER_STATUS = {
    "pending": OrderStatus.PENDING,
    "checkout-draft": OrderStatus.PENDING,
    "draft": OrderStatus.PENDING,
    "failed": OrderStatus.PENDING,  # payment failed: the customer may still pay through the link
    "on-hold": OrderStatus.OPEN,
    "processing": OrderStatus.OPEN,
    "completed": OrderStatus.FULFILLED,
    "shipped": OrderStatus.FULFILLED,  # custom status added by shipment-tracking plugins
    "partial-shipped": OrderStatus.OPEN,
    "delivered": OrderStatus.COMPLETED,
    "cancelled": OrderStatus.CANCELLED,
    "refunded": OrderStatus.REFUNDED,
    "trash": OrderStatus.CANCELLED,
}

# TrackShip carrier statuses -> canonical shipment status.
_SHIPMENT_STATUS = {
    "pre_transit": ShipmentStatus.LABEL_PRINTED,
    "label_created": ShipmentStatus.LABEL_PRINTED,
    "in_transit": ShipmentStatus.IN_TRANSIT,
    "available_for_pickup": ShipmentStatus.OUT_FOR_DELIVERY,
    "out_for_delivery": ShipmentStatus.OUT_FOR_DELIVERY,
    "delivered": ShipmentStatus.DELIVERED,
    "on_hold": ShipmentStatus.DELAYED,
    "exception": ShipmentStatus.DELAYED,
    "failure": ShipmentStatus.FAILED,
    "return_to_sender": ShipmentStatus.FAILED,
}


class MappingError(ValueError):
    """A payload lacks what the mapping needs (turned into a 400 for webhooks)."""


def parse_datetime(value: Any) -> datetime | None:
    """WooCommerce ``*_gmt`` values are ISO 8601 without an offset, in UTC."""
    return iso_or_none(value, where="woocommerce date")


def format_gmt(moment: datetime) -> str:
    """A UTC timestamp as WooCommerce query parameters expect it (used with ``dates_are_gmt=true``)."""
    return moment.astimezone(UTC).replace(tzinfo=None, microsecond=0).isoformat()


def money(value: Any, currency: str) -> Money | None:
    """WooCommerce money strings ("12.50"; "" when unset) as :class:`Money`."""
    if value is None or value == "":
        return None
    try:
        return Money(Decimal(str(value)), currency)
    except (InvalidOperation, ValueError):
        return None


def plain_text(value: str | None) -> str:
    """Descriptions are HTML; the catalog wants text."""
    return html.unescape(_TAG.sub("", value or "")).strip()


def _meta(payload: Mapping[str, Any], key: str) -> Any:
    for item in payload.get("meta_data") or ():
        if isinstance(item, Mapping) and item.get("key") == key:
            return item.get("value")
    return None


#: The product fields the catalog read asks for (WordPress's ``_fields``): what the mapping below reads, plus
#: ``type`` and ``variations`` for the adapter. A smaller answer for the shop to build and for us to decode.
PRODUCT_FIELDS = (
    "id,type,status,name,sku,permalink,date_modified_gmt,images,brands,short_description,description,categories,"
    "regular_price,price,sale_price,manage_stock,stock_quantity,stock_status,variations"
)
#: The variation fields the mapping reads, plus ``parent_id`` (``GET /variations`` groups them by it).
VARIATION_FIELDS = (
    "id,parent_id,status,sku,permalink,date_modified_gmt,image,attributes,regular_price,price,sale_price,"
    "manage_stock,stock_quantity,stock_status"
)


def _stock(item: Mapping[str, Any], parent: Mapping[str, Any] | None) -> int | None:
    managed = item.get("manage_stock")
    if managed == "parent" and parent is not None:
        item, managed = parent, parent.get("manage_stock")
    if managed is True:
        quantity = item.get("stock_quantity")
        return max(0, int(quantity)) if quantity is not None else 0
    return None


def _availability(item: Mapping[str, Any]) -> Availability:
    return _AVAILABILITY.get(str(item.get("stock_status") or "instock"), Availability.IN_STOCK)


def _images(product: Mapping[str, Any]) -> list[str]:
    return [img["src"] for img in product.get("images") or () if isinstance(img, Mapping) and img.get("src")]


def _common(product: Mapping[str, Any]) -> dict[str, Any]:
    brands = product.get("brands") or ()
    return {
        "description": plain_text(product.get("short_description") or product.get("description")),
        "brand": brands[0].get("name") if brands and isinstance(brands[0], Mapping) else None,
        "collections": [c["name"] for c in product.get("categories") or () if isinstance(c, Mapping) and c.get("name")],
    }


def _prices(item: Mapping[str, Any], currency: str) -> tuple[Money, Money | None]:
    price = money(item.get("regular_price"), currency) or money(item.get("price"), currency)
    if price is None:
        raise MappingError(f"product {item.get('id')} has no price")
    sale = money(item.get("sale_price"), currency)
    if sale is not None and sale.amount >= price.amount:
        sale = None
    return price, sale


def simple_variant(product: Mapping[str, Any], currency: str) -> Variant:
    """A simple (or external/grouped) product is one variant whose id is the product id."""
    pid = str(product["id"])
    price, sale = _prices(product, currency)
    images = _images(product)
    return Variant(
        external_id=pid,
        product_external_id=pid,
        title=str(product.get("name") or ""),
        price=price,
        sale_price=sale,
        availability=_availability(product),
        stock_quantity=_stock(product, None),
        sku=product.get("sku") or None,
        link=str(product.get("permalink") or ""),
        image_url=images[0] if images else None,
        additional_image_urls=images[1:],
        published=product.get("status") == "publish",
        updated_at=parse_datetime(product.get("date_modified_gmt")),
        **_common(product),
    )


def variation_variant(product: Mapping[str, Any], variation: Mapping[str, Any], currency: str) -> Variant:
    """One variation of a variable product; falls back to the parent for what a variation does not carry."""
    price, sale = _prices(variation, currency)
    attributes = {
        str(a.get("name")): str(a.get("option"))
        for a in variation.get("attributes") or ()
        if isinstance(a, Mapping) and a.get("name") and a.get("option")
    }
    suffix = ", ".join(attributes.values())
    title = str(product.get("name") or "")
    image = variation.get("image") if isinstance(variation.get("image"), Mapping) else None
    parent_images = _images(product)
    image_url = (image or {}).get("src") or (parent_images[0] if parent_images else None)
    return Variant(
        external_id=str(variation["id"]),
        product_external_id=str(product["id"]),
        title=f"{title} - {suffix}" if suffix else title,
        price=price,
        sale_price=sale,
        availability=_availability(variation),
        stock_quantity=_stock(variation, product),
        sku=variation.get("sku") or None,
        link=str(variation.get("permalink") or product.get("permalink") or ""),
        image_url=image_url,
        additional_image_urls=[src for src in parent_images if src != image_url],
        attributes=attributes,
        published=product.get("status") == "publish" and variation.get("status", "publish") == "publish",
        updated_at=parse_datetime(variation.get("date_modified_gmt")),
        **_common(product),
    )


# --------------------------------------------------------------------------- orders


def address_from(data: Mapping[str, Any] | None) -> Address | None:
    if not data or not any(data.get(k) for k in ("address_1", "city", "postcode")):
        return None
    return Address(
        name=f"{data.get('first_name') or ''} {data.get('last_name') or ''}".strip(),
        company=data.get("company") or "",
        line1=data.get("address_1") or "",
        line2=data.get("address_2") or "",
        postcode=data.get("postcode") or "",
        city=data.get("city") or "",
        region=data.get("state") or "",
        country_code=data.get("country") or "",
        phone=data.get("phone") or "",
    )


def address_to(address: Address, *, email: str | None = None, phone: str | None = None) -> dict[str, str]:
    """A canonical address as WooCommerce's ``billing``/``shipping`` object."""
    first, _, last = address.name.strip().partition(" ")
    data = {
        "first_name": first,
        "last_name": last,
        "company": address.company,
        "address_1": address.line1,
        "address_2": address.line2,
        "city": address.city,
        "state": address.region,
        "postcode": address.postcode,
        "country": address.country_code,
        "phone": phone or address.phone,
    }
    if email is not None:
        data["email"] = email
    return data


def fulfillments_from(payload: Mapping[str, Any], links: Mapping[str, str] | None = None) -> list[Fulfillment]:
    """Tracking items (Shipment Tracking meta) with TrackShip statuses when present.

    ``links`` maps tracking ids to the formatted tracking link the extension's REST endpoint returned.
    """
    items = _meta(payload, TRACKING_META_KEY) or []
    statuses = _meta(payload, SHIPMENT_STATUS_META_KEY) or []
    if isinstance(statuses, Mapping):  # PHP arrays with numeric keys may arrive as objects
        statuses = [statuses[k] for k in sorted(statuses, key=str)]
    updated = parse_datetime(payload.get("date_modified_gmt"))
    result: list[Fulfillment] = []
    for index, item in enumerate(items if isinstance(items, list) else []):
        if not isinstance(item, Mapping):
            continue
        status = ShipmentStatus.IN_TRANSIT  # a tracking number is only added once the parcel left
        if index < len(statuses) and isinstance(statuses[index], Mapping):
            status = _SHIPMENT_STATUS.get(str(statuses[index].get("status")), status)
        tracking_id = str(item.get("tracking_id") or index)
        number = item.get("tracking_number") or None
        link = (links or {}).get(tracking_id) or item.get("custom_tracking_link") or None
        if link and number and "%1$s" in link:
            link = link.replace("%1$s", str(number))
        result.append(
            Fulfillment(
                external_id=tracking_id,
                status=status,
                tracking_company=item.get("custom_tracking_provider") or item.get("tracking_provider") or None,
                tracking_number=number,
                tracking_url=link,
                updated_at=updated,
            )
        )
    return result


def order_from(payload: Mapping[str, Any], links: Mapping[str, str] | None = None) -> Order:
    """A v3 order (REST response or webhook body) as a canonical :class:`Order`."""
    try:
        currency = str(payload.get("currency") or "")
        total = money(payload.get("total"), currency)
        if total is None:
            raise MappingError(f"order {payload.get('id')} has no total")
        lines = [
            OrderLine(
                variant_external_id=str(item.get("variation_id") or item.get("product_id")),
                title=str(item.get("name") or ""),
                quantity=int(item.get("quantity") or 0),
                unit_price=money(item.get("price"), currency) or Money(Decimal(0), currency),
                sku=item.get("sku") or None,
            )
            for item in payload.get("line_items") or ()
        ]
        billing = payload.get("billing") or {}
        subtotal = sum((line.unit_price * line.quantity for line in lines), Money(Decimal(0), currency))
        reference = _meta(payload, REFERENCE_META_KEY)
        return Order(
            external_id=str(payload["id"]),
            number=str(payload.get("number") or payload["id"]),
            status=_ORDER_STATUS.get(str(payload.get("status")), OrderStatus.OPEN),
            lines=lines,
            total=total,
            subtotal=subtotal,
            shipping_total=money(payload.get("shipping_total"), currency),
            customer=Customer(
                phone=billing.get("phone") or None,
                email=billing.get("email") or None,
                first_name=billing.get("first_name") or "",
                last_name=billing.get("last_name") or "",
                # The phone is typed in the billing form: read it with the billing country, else the shipping one.
                country_code=billing.get("country") or (payload.get("shipping") or {}).get("country") or None,
            ),
            shipping_address=address_from(payload.get("shipping")),
            fulfillments=fulfillments_from(payload, links),
            payment_url=payload.get("payment_url") or None,
            reference=str(reference) if reference else None,
            created_at=parse_datetime(payload.get("date_created_gmt")),
            updated_at=parse_datetime(payload.get("date_modified_gmt")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, MappingError):
            raise
        raise MappingError(f"not a WooCommerce order: {exc}") from exc


def order_reference(payload: Mapping[str, Any]) -> str | None:
    value = _meta(payload, REFERENCE_META_KEY)
    return str(value) if value else None
