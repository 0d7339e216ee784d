"""Shopify GraphQL nodes and REST webhook bodies -> the canonical model."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from connector import model
from connector.model import Availability, OrderStatus, ShipmentStatus
from connector.timestamps import from_iso

REFERENCE_KEY = "chatshop_reference"
DEFAULT_OPTION = ("Title", "Default Title")

DISPLAY_STATUS = {
    "LABEL_PRINTED": ShipmentStatus.LABEL_PRINTED,
    "LABEL_PURCHASED": ShipmentStatus.LABEL_PRINTED,
    "IN_TRANSIT": ShipmentStatus.IN_TRANSIT,
    "OUT_FOR_DELIVERY": ShipmentStatus.OUT_FOR_DELIVERY,
    "ATTEMPTED_DELIVERY": ShipmentStatus.DELAYED,
    "DELAYED": ShipmentStatus.DELAYED,
    "FAILURE": ShipmentStatus.FAILED,
    "NOT_DELIVERED": ShipmentStatus.FAILED,
    "DELIVERED": ShipmentStatus.DELIVERED,
    "PICKED_UP": ShipmentStatus.DELIVERED,
}
CANCELLED_FULFILLMENT = {"CANCELED", "CANCELLED", "LABEL_VOIDED"}


@dataclass(frozen=True, slots=True)
class ShopInfo:
    name: str
    currency: str
    storefront: str  # https://shop.example.com, for product links of unpublished products


def gid(kind: str, num: Any) -> str:
    return f"gid://shopify/{kind}/{num}"


def parse_time(value: str | None) -> datetime | None:
    """Shopify's ISO 8601 times as aware UTC datetimes; ``ValueError`` when not a date in a sane range."""
    if not value:
        return None
    return from_iso(value)


def numeric(value: str) -> str:
    return value.rsplit("/", 1)[-1]


def canonical_variant_id(variant_id: str, product_id: str, default_only: bool) -> str:
    """Simple products (only the default variant) are identified by their product GID, as the model wants."""
    return product_id if default_only else variant_id


# --------------------------------------------------------------------------- catalog


def variant_image(node: dict[str, Any]) -> str | None:
    """The URL of a variant's own image: its first media (``ProductVariant.image`` is deprecated since 2024-01)."""
    for media in (node.get("media") or {}).get("nodes") or []:
        url = (((media or {}).get("preview") or {}).get("image") or {}).get("url")
        if url:
            return str(url)
    return None


def variant(node: dict[str, Any], product: dict[str, Any], shop: ShopInfo) -> model.Variant:
    """One ``ProductVariant`` node (with its product) as a canonical :class:`~connector.model.Variant`."""
    default_only = bool(product.get("hasOnlyDefaultVariant"))
    price = Decimal(node["price"])
    compare_at = Decimal(node["compareAtPrice"]) if node.get("compareAtPrice") else None
    regular, sale = (compare_at, price) if compare_at is not None and compare_at > price else (price, None)
    tracked = bool((node.get("inventoryItem") or {}).get("tracked"))
    quantity = node.get("inventoryQuantity")
    stock = max(int(quantity), 0) if tracked and quantity is not None else None
    if stock is None or stock > 0:
        availability = Availability.IN_STOCK
    elif node.get("inventoryPolicy") == "CONTINUE":
        availability = Availability.AVAILABLE_FOR_ORDER
    else:
        availability = Availability.OUT_OF_STOCK
    link = product.get("onlineStoreUrl") or f"{shop.storefront}/products/{product['handle']}"
    if not default_only:
        link = f"{link}?variant={numeric(node['id'])}"
    product_image = (((product.get("featuredMedia") or {}).get("preview") or {}).get("image") or {}).get("url")
    image = variant_image(node) or product_image
    options = {
        o["name"].lower(): o["value"]
        for o in node.get("selectedOptions") or []
        if (o["name"], o["value"]) != DEFAULT_OPTION
    }
    title = product["title"] if default_only else f"{product['title']} - {node['title']}"
    updated = max(filter(None, (parse_time(node.get("updatedAt")), parse_time(product.get("updatedAt")))), default=None)
    return model.Variant(
        external_id=canonical_variant_id(node["id"], product["id"], default_only),
        product_external_id=product["id"],
        title=title,
        price=model.Money(regular, shop.currency),
        sale_price=model.Money(sale, shop.currency) if sale is not None else None,
        availability=availability,
        stock_quantity=stock,
        sku=node.get("sku") or None,
        gtin=node.get("barcode") or None,
        description=product.get("description") or "",
        link=link,
        image_url=image,
        additional_image_urls=[product_image] if product_image and image != product_image else [],
        brand=product.get("vendor") or None,
        attributes=options,
        collections=[product["productType"]] if product.get("productType") else [],
        published=product.get("status") == "ACTIVE",
        updated_at=updated,
    )


# --------------------------------------------------------------------------- orders


def _money(bag: dict[str, Any] | None) -> model.Money | None:
    if not bag or not bag.get("shopMoney"):
        return None
    return model.Money(bag["shopMoney"]["amount"], bag["shopMoney"]["currencyCode"])


def address_from_graphql(data: dict[str, Any] | None) -> model.Address | None:
    if not data:
        return None
    return model.Address(
        name=" ".join(filter(None, (data.get("firstName"), data.get("lastName")))),
        line1=data.get("address1") or "",
        line2=data.get("address2") or "",
        postcode=data.get("zip") or "",
        city=data.get("city") or "",
        region=data.get("provinceCode") or "",
        country_code=data.get("countryCodeV2") or "",
        company=data.get("company") or "",
        phone=data.get("phone") or "",
    )


def address_input(address: model.Address, phone: str | None = None) -> dict[str, Any]:
    """A canonical address as Shopify's ``MailingAddressInput``."""
    first, _, last = address.name.strip().rpartition(" ")
    if not first:
        first, last = last, ""
    data = {
        "firstName": first,
        "lastName": last or first,
        "address1": address.line1,
        "address2": address.line2 or None,
        "zip": address.postcode,
        "city": address.city,
        "provinceCode": address.region or None,
        "countryCode": address.country_code.upper(),
        "company": address.company or None,
        "phone": address.phone or phone or None,
    }
    return {k: v for k, v in data.items() if v is not None}


def order_status(financial: str | None, fulfillment: str | None, cancelled: bool, delivered: bool) -> OrderStatus:
    if cancelled:
        return OrderStatus.CANCELLED
    financial = (financial or "").upper()
    if financial in ("REFUNDED",):
        return OrderStatus.REFUNDED
    if financial == "VOIDED":
        return OrderStatus.CANCELLED
    if (fulfillment or "").upper() == "FULFILLED":
        return OrderStatus.COMPLETED if delivered else OrderStatus.FULFILLED
    if financial in ("PENDING", "EXPIRED"):
        return OrderStatus.PENDING
    return OrderStatus.OPEN


def fulfillment_from_graphql(data: dict[str, Any]) -> model.Fulfillment | None:
    display = (data.get("displayStatus") or "").upper()
    if display in CANCELLED_FULFILLMENT or data.get("status") in ("CANCELLED", "ERROR", "FAILURE"):
        return None
    tracking = (data.get("trackingInfo") or [{}])[0] if data.get("trackingInfo") else {}
    return model.Fulfillment(
        external_id=data["id"],
        status=DISPLAY_STATUS.get(display, ShipmentStatus.CONFIRMED),
        tracking_company=tracking.get("company"),
        tracking_number=tracking.get("number"),
        tracking_url=tracking.get("url"),
        updated_at=parse_time(data.get("updatedAt")),
    )


def order_from_graphql(data: dict[str, Any]) -> model.Order:
    """An ``Order`` node (see ``queries.ORDER_FIELDS``) as a canonical order."""
    fulfillments = [f for f in map(fulfillment_from_graphql, data.get("fulfillments") or []) if f is not None]
    delivered = bool(fulfillments) and all(f.status is ShipmentStatus.DELIVERED for f in fulfillments)
    lines = []
    for line in (data.get("lineItems") or {}).get("nodes") or []:
        v = line.get("variant") or {}
        product = v.get("product") or {}
        variant_id = (
            canonical_variant_id(v["id"], product["id"], bool(product.get("hasOnlyDefaultVariant"))) if v else ""
        )
        lines.append(
            model.OrderLine(
                variant_external_id=variant_id,
                title=line["title"],
                quantity=int(line["quantity"]),
                unit_price=_money(line["originalUnitPriceSet"]),  # type: ignore[arg-type]
                sku=line.get("sku"),
            )
        )
    attributes = {a["key"]: a["value"] for a in data.get("customAttributes") or []}
    address = address_from_graphql(data.get("shippingAddress"))
    status = order_status(
        data.get("displayFinancialStatus"),
        data.get("displayFulfillmentStatus"),
        bool(data.get("cancelledAt")),
        delivered,
    )
    payment = (data.get("paymentCollectionDetails") or {}).get("additionalPaymentCollectionUrl")
    return model.Order(
        external_id=data["id"],
        number=data["name"],
        status=status,
        lines=lines,
        total=_money(data["totalPriceSet"]),  # type: ignore[arg-type]
        subtotal=_money(data.get("subtotalPriceSet")),
        shipping_total=_money(data.get("totalShippingPriceSet")),
        customer=model.Customer(
            phone=data.get("phone"),
            email=data.get("email"),
            first_name=(data.get("shippingAddress") or {}).get("firstName") or "",
            last_name=(data.get("shippingAddress") or {}).get("lastName") or "",
            # A national phone number is read with the order's (shipping) country.
            country_code=address.country_code if address is not None else None,
        ),
        shipping_address=address,
        fulfillments=fulfillments,
        payment_url=payment if status is OrderStatus.PENDING else None,
        reference=attributes.get(REFERENCE_KEY) or data.get("sourceIdentifier"),
        created_at=parse_time(data.get("createdAt")),
        updated_at=parse_time(data.get("updatedAt")),
    )


# --------------------------------------------------------------------------- checkouts


def checkout_from_graphql(data: dict[str, Any]) -> model.Checkout:
    """An ``AbandonedCheckout`` node (see ``queries.ABANDONED_CHECKOUTS``) as a canonical checkout. The customer's
    name and phone come from the billing address, else the shipping address."""
    lines = [
        model.OrderLine(
            variant_external_id=(line.get("variant") or {}).get("id") or "",
            title=line["title"],
            quantity=int(line["quantity"]),
            unit_price=_money(line["originalUnitPriceSet"]),  # type: ignore[arg-type]
        )
        for line in (data.get("lineItems") or {}).get("nodes") or []
    ]
    billing, shipping = data.get("billingAddress") or {}, data.get("shippingAddress") or {}

    def pick(key: str) -> str | None:
        return billing.get(key) or shipping.get(key) or None

    return model.Checkout(
        external_id=data["id"],
        name=data.get("name") or "",
        lines=lines,
        total=_money(data["totalPriceSet"]),  # type: ignore[arg-type]
        recovery_url=data.get("abandonedCheckoutUrl"),
        customer=model.Customer(
            phone=pick("phone"),
            first_name=pick("firstName") or "",
            last_name=pick("lastName") or "",
            country_code=pick("countryCodeV2"),
        ),
        completed_at=parse_time(data.get("completedAt")),
        created_at=parse_time(data.get("createdAt")),
        updated_at=parse_time(data.get("updatedAt")),
    )
