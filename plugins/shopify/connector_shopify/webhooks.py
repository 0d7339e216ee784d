"""Shopify webhook deliveries: HMAC verification and REST-shaped payloads -> canonical events."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from connector_shopify.mapping import REFERENCE_KEY, canonical_variant_id, gid, order_status, parse_time

from connector import model
from connector.adapters import ParsedWebhook, WebhookRequest
from connector.errors import WebhookRejected
from connector.model import ShipmentStatus, ShopEvent, ShopEventKind
from connector.payload import check_shop_events

TOPICS = (
    "products/create",
    "products/update",
    "products/delete",
    "inventory_levels/update",
    "orders/create",
    "orders/updated",
    "orders/paid",
    "orders/cancelled",
    "checkouts/create",
    "checkouts/update",
    "fulfillments/create",
    "fulfillments/update",
    "fulfillment_events/create",
    "app/uninstalled",
)

#: Shopify's mandatory compliance webhooks, declared in the app's configuration (not through the API).
PRIVACY_TOPICS = {
    "customers/data_request": ShopEventKind.CUSTOMER_DATA_REQUEST,
    "customers/redact": ShopEventKind.CUSTOMER_REDACT,
    "shop/redact": ShopEventKind.SHOP_REDACT,
}

#: REST ``shipment_status`` / fulfillment event ``status`` -> canonical status.
SHIPMENT_STATUS = {
    "confirmed": ShipmentStatus.CONFIRMED,
    "label_printed": ShipmentStatus.LABEL_PRINTED,
    "label_purchased": ShipmentStatus.LABEL_PRINTED,
    "ready_for_pickup": ShipmentStatus.CONFIRMED,
    "carrier_picked_up": ShipmentStatus.IN_TRANSIT,
    "in_transit": ShipmentStatus.IN_TRANSIT,
    "out_for_delivery": ShipmentStatus.OUT_FOR_DELIVERY,
    "attempted_delivery": ShipmentStatus.DELAYED,
    "delayed": ShipmentStatus.DELAYED,
    "failure": ShipmentStatus.FAILED,
    "delivered": ShipmentStatus.DELIVERED,
}


def signature(body: bytes, secret: str) -> str:
    """``X-Shopify-Hmac-Sha256``: base64 of HMAC-SHA256 over the raw body with the app's client secret."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def verify(request: WebhookRequest, secrets: Iterable[str]) -> None:
    """Raise ``WebhookRejected(401)`` unless the body is signed with one of ``secrets`` (two during a rotation)."""
    header = request.headers.get("X-Shopify-Hmac-Sha256")
    if not header:
        raise WebhookRejected(401, "missing X-Shopify-Hmac-Sha256 header: not a Shopify webhook delivery")
    if not any(hmac.compare_digest(signature(request.body, s), header.strip()) for s in secrets if s):
        raise WebhookRejected(401, "X-Shopify-Hmac-Sha256 does not match the body: wrong client secret or forged")


def _require(payload: dict[str, Any], *keys: str) -> None:
    missing = [k for k in keys if payload.get(k) in (None, "")]
    if missing:
        raise WebhookRejected(400, f"payload lacks {', '.join(missing)}")
    for key in keys:
        if key.endswith("id"):
            _numeric(payload[key], key)  # every id Shopify sends is numeric: anything else is no Shopify delivery


def _numeric(value: Any, where: str) -> int:
    """A REST id: a positive integer (or its digits) that fits 64 bits; ``WebhookRejected(400)`` otherwise."""
    if isinstance(value, str) and value.isdigit() and len(value) <= 19:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**63:
        raise WebhookRejected(400, f"{where} is not a Shopify id: {value!r}")
    return value


def _gid_of(data: dict[str, Any], kind: str, where: str) -> str:
    """``admin_graphql_api_id`` when it is a GID of ``kind``, else the GID built from the numeric ``id``."""
    given = data.get("admin_graphql_api_id")
    if given not in (None, ""):
        if not isinstance(given, str) or not given.startswith(f"gid://shopify/{kind}/"):
            raise WebhookRejected(400, f"{where}.admin_graphql_api_id is not a {kind} GID: {given!r}")
        return given
    return gid(kind, _numeric(data.get("id"), f"{where}.id"))


def _count(value: Any, where: str) -> int:
    """A quantity: an integer within 32 bits (negative stock exists), ``WebhookRejected(400)`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise WebhookRejected(400, f"{where} is not a whole number: {value!r}")
    try:
        number = int(value)
    except ValueError:
        raise WebhookRejected(400, f"{where} is not a whole number: {value!r}") from None
    if not -(2**31) <= number < 2**31:
        raise WebhookRejected(400, f"{where} is out of range: {value!r}")
    return number


def _is_default_only(product: dict[str, Any]) -> bool:
    variants = product.get("variants") or []
    return len(variants) == 1 and variants[0].get("option1") == "Default Title" and not variants[0].get("option2")


def _money(amount: Any, currency: str) -> model.Money:
    try:
        value = Decimal(str(amount or "0"))
    except (InvalidOperation, ValueError) as exc:
        raise WebhookRejected(400, f"invalid amount {amount!r}") from exc
    if not value.is_finite() or abs(value) >= 10**15:
        raise WebhookRejected(400, f"invalid amount {amount!r}")
    return model.Money(value, str(currency))


def _address(data: dict[str, Any] | None) -> model.Address | None:
    if not data:
        return None
    return model.Address(
        name=data.get("name") or " ".join(filter(None, (data.get("first_name"), data.get("last_name")))),
        line1=data.get("address1") or "",
        line2=data.get("address2") or "",
        postcode=data.get("zip") or "",
        city=data.get("city") or "",
        region=data.get("province_code") or "",
        country_code=data.get("country_code") or "",
        company=data.get("company") or "",
        phone=data.get("phone") or "",
    )


def fulfillment_from_rest(data: dict[str, Any]) -> model.Fulfillment | None:
    if data.get("status") in ("cancelled", "error", "failure"):
        return None
    return model.Fulfillment(
        external_id=_gid_of(data, "Fulfillment", "fulfillment"),
        status=SHIPMENT_STATUS.get(data.get("shipment_status") or "", ShipmentStatus.CONFIRMED),
        tracking_company=data.get("tracking_company"),
        tracking_number=data.get("tracking_number"),
        tracking_url=data.get("tracking_url"),
        updated_at=parse_time(data.get("updated_at")),
    )


def _line_variant_id(line: dict[str, Any]) -> str:
    if not line.get("variant_id"):
        return ""
    if line.get("variant_title") == "Default Title" and line.get("product_id"):
        # a simple product: the canonical id is the product's
        return gid("Product", _numeric(line["product_id"], "line_items[].product_id"))
    return gid("ProductVariant", _numeric(line["variant_id"], "line_items[].variant_id"))


def order_from_rest(data: dict[str, Any]) -> model.Order:
    """A REST order (``orders/*`` webhook body) as a canonical order."""
    _require(data, "id", "name")
    currency = data.get("currency") or "USD"
    fulfillments = [f for f in map(fulfillment_from_rest, data.get("fulfillments") or []) if f is not None]
    delivered = bool(fulfillments) and all(f.status is ShipmentStatus.DELIVERED for f in fulfillments)
    lines = [
        model.OrderLine(
            variant_external_id=_line_variant_id(li),
            title=li.get("title") or "",
            quantity=_count(li.get("quantity") or 0, "line_items[].quantity"),
            unit_price=_money(li.get("price"), currency),
            sku=li.get("sku"),
        )
        for li in data.get("line_items") or []
    ]
    attributes = {a.get("name"): a.get("value") for a in data.get("note_attributes") or []}
    status = order_status(
        data.get("financial_status"), data.get("fulfillment_status"), bool(data.get("cancelled_at")), delivered
    )
    customer = data.get("customer") or {}
    return model.Order(
        external_id=_gid_of(data, "Order", "order"),
        number=str(data["name"]),
        status=status,
        lines=lines,
        total=_money(data.get("total_price"), currency),
        subtotal=_money(data.get("subtotal_price"), currency),
        customer=model.Customer(
            phone=data.get("phone") or customer.get("phone"),
            email=data.get("email") or customer.get("email"),
            first_name=customer.get("first_name") or "",
            last_name=customer.get("last_name") or "",
        ),
        shipping_address=_address(data.get("shipping_address")),
        fulfillments=fulfillments,
        reference=attributes.get(REFERENCE_KEY) or data.get("source_identifier"),
        created_at=parse_time(data.get("created_at")),
        updated_at=parse_time(data.get("updated_at")),
    )


def checkout_from_rest(data: dict[str, Any]) -> model.Checkout:
    """A REST checkout (``checkouts/*`` webhook body) as a canonical checkout, keyed by its GraphQL id
    (``gid://shopify/AbandonedCheckout/<id>``, as the ``abandonedCheckouts`` query names it)."""
    _require(data, "id")
    currency = str(data.get("presentment_currency") or data.get("currency") or "USD")
    raw_lines = data.get("line_items") or []
    if not isinstance(raw_lines, list) or not all(isinstance(li, dict) for li in raw_lines):
        raise WebhookRejected(400, "checkout.line_items must be a list of objects")
    lines = [
        model.OrderLine(
            variant_external_id=_line_variant_id(li),
            title=str(li.get("title") or ""),
            quantity=_count(li.get("quantity") or 0, "line_items[].quantity"),
            unit_price=_money(li.get("price"), currency),
            sku=li.get("sku"),
        )
        for li in raw_lines
    ]
    customer = data.get("customer") or {}
    address = data.get("billing_address") or data.get("shipping_address") or {}
    if not isinstance(customer, dict) or not isinstance(address, dict):
        raise WebhookRejected(400, "checkout.customer and the addresses must be objects")
    url = data.get("abandoned_checkout_url")
    if url is not None and (not isinstance(url, str) or not url.startswith(("https://", "http://")) or len(url) > 2048):
        raise WebhookRejected(400, "checkout.abandoned_checkout_url is not a link")
    return model.Checkout(
        external_id=gid("AbandonedCheckout", _numeric(data["id"], "checkout.id")),
        name=str(data.get("name") or "")[:255],
        lines=lines,
        total=_money(data.get("total_price"), currency),
        recovery_url=url,
        customer=model.Customer(
            phone=data.get("phone") or address.get("phone") or customer.get("phone"),
            email=data.get("email") or customer.get("email"),
            first_name=customer.get("first_name") or address.get("first_name") or "",
            last_name=customer.get("last_name") or address.get("last_name") or "",
            locale=data.get("customer_locale"),
            country_code=address.get("country_code"),
        ),
        completed_at=parse_time(data.get("completed_at")),
        created_at=parse_time(data.get("created_at")),
        updated_at=parse_time(data.get("updated_at")),
    )


def parse(request: WebhookRequest, variant_for_item: Callable[[str], str | None]) -> ParsedWebhook:
    """Turn a verified delivery into events. ``variant_for_item`` maps an InventoryItem GID to a variant id if known."""
    topic = request.headers.get("X-Shopify-Topic")
    if not topic:
        raise WebhookRejected(400, "missing X-Shopify-Topic header")
    delivery_id = request.headers.get("X-Shopify-Webhook-Id") or request.headers.get("X-Shopify-Event-Id")
    if not delivery_id:
        raise WebhookRejected(400, "missing X-Shopify-Webhook-Id header")
    payload = request.json()
    if not isinstance(payload, dict):
        raise WebhookRejected(400, "the body must be a JSON object")
    return ParsedWebhook(
        delivery_id=delivery_id,
        topic=topic,
        events=check_shop_events(_events(topic, payload, request, variant_for_item)),
        sent_at=triggered_at(request),
    )


#: ``X-Shopify-Triggered-At``: ISO 8601, in UTC, with up to nanoseconds (``2023-03-29T18:00:27.877041743Z``).
_TRIGGERED_AT = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)?")


def triggered_at(request: WebhookRequest) -> datetime | None:
    """When Shopify triggered the delivery (``X-Shopify-Triggered-At``), or ``None`` when the header is absent.
    Shopify signs only the body, so this header tells a verbatim replay of an old delivery, not a forged one."""
    value = (request.headers.get("X-Shopify-Triggered-At") or "").strip()
    if not value:
        return None
    match = _TRIGGERED_AT.fullmatch(value)
    if match is None:
        raise WebhookRejected(400, f"X-Shopify-Triggered-At is not an ISO 8601 time: {value[:64]!r}")
    seconds, fraction, zone = match.groups()
    text = seconds + (f".{fraction[:6]}" if fraction else "") + ("+00:00" if zone in (None, "Z") else zone)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise WebhookRejected(400, f"X-Shopify-Triggered-At is not a valid time: {value[:64]!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _events(
    topic: str, payload: dict[str, Any], request: WebhookRequest, variant_for_item: Callable[[str], str | None]
) -> list[ShopEvent]:
    if topic in ("products/create", "products/update"):
        _require(payload, "id")
        product_id = _gid_of(payload, "Product", "product")
        default_only = _is_default_only(payload)
        variants = payload.get("variants") or []
        if not isinstance(variants, list) or not all(isinstance(v, dict) for v in variants):
            raise WebhookRejected(400, "product.variants must be a list of objects")
        variant_ids = [
            canonical_variant_id(_gid_of(v, "ProductVariant", f"variants[{i}]"), product_id, default_only)
            for i, v in enumerate(variants)
        ]
        return [
            ShopEvent(
                ShopEventKind.PRODUCT_CHANGED,
                product_id,
                variant_ids,
                occurred_at=parse_time(payload.get("updated_at")),
            )
        ]
    if topic == "products/delete":
        _require(payload, "id")
        return [ShopEvent(ShopEventKind.PRODUCT_DELETED, gid("Product", payload["id"]))]
    if topic == "inventory_levels/update":
        _require(payload, "inventory_item_id")
        item_id = gid("InventoryItem", payload["inventory_item_id"])
        known = variant_for_item(item_id)
        available = payload.get("available")
        return [
            ShopEvent(
                ShopEventKind.STOCK_CHANGED,
                item_id,
                [known] if known else [],
                stock_quantity=None if available is None else max(_count(available, "available"), 0),
                occurred_at=parse_time(payload.get("updated_at")),
            )
        ]
    if topic.startswith("orders/"):
        order = order_from_rest(payload)
        return [ShopEvent(ShopEventKind.ORDER_CHANGED, order.external_id, order=order, occurred_at=order.updated_at)]
    if topic in ("checkouts/create", "checkouts/update"):
        checkout = checkout_from_rest(payload)
        return [
            ShopEvent(
                ShopEventKind.CHECKOUT_CHANGED, checkout.external_id, checkout=checkout, occurred_at=checkout.updated_at
            )
        ]
    if topic in ("fulfillments/create", "fulfillments/update"):
        _require(payload, "id", "order_id")
        return [
            ShopEvent(
                ShopEventKind.FULFILLMENT_CHANGED,
                gid("Order", payload["order_id"]),
                fulfillment=fulfillment_from_rest(payload),
                occurred_at=parse_time(payload.get("updated_at")),
            )
        ]
    if topic == "fulfillment_events/create":
        _require(payload, "fulfillment_id", "order_id", "status")
        fulfillment = model.Fulfillment(
            external_id=gid("Fulfillment", payload["fulfillment_id"]),
            status=SHIPMENT_STATUS.get(payload["status"], ShipmentStatus.CONFIRMED),
            updated_at=parse_time(payload.get("happened_at")),
        )
        return [
            ShopEvent(
                ShopEventKind.FULFILLMENT_CHANGED,
                gid("Order", payload["order_id"]),
                fulfillment=fulfillment,
                occurred_at=fulfillment.updated_at,
            )
        ]
    if topic == "app/uninstalled":
        shop = payload.get("myshopify_domain") or request.headers.get("X-Shopify-Shop-Domain") or ""
        return [ShopEvent(ShopEventKind.APP_UNINSTALLED, shop)]
    if topic in PRIVACY_TOPICS:
        shop = str(payload.get("shop_domain") or request.headers.get("X-Shopify-Shop-Domain") or "")
        customer = payload.get("customer") if topic != "shop/redact" else {}
        if not isinstance(customer, dict):
            raise WebhookRejected(400, f"{topic}: customer must be an object")
        person = {k: str(customer[k]) for k in ("phone", "email") if isinstance(customer.get(k), str | int)}
        return [ShopEvent(PRIVACY_TOPICS[topic], shop[:255], customer=person)]
    return []
