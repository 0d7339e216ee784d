"""Shopware orders as canonical orders: states, deliveries with tracking codes, order addresses."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from connector_shopware.catalog import parse_datetime

from connector.model import Address, Customer, Fulfillment, Money, Order, OrderLine, OrderStatus, ShipmentStatus

#: Every association an order is read with (6.6 returns state objects only when asked for).
ORDER_ASSOCIATIONS: dict[str, Any] = {
    "lineItems": {},
    "addresses": {},
    "billingAddress": {"associations": {"country": {}}},
    "currency": {},
    "orderCustomer": {},
    "stateMachineState": {},
    "transactions": {"associations": {"stateMachineState": {}}},
    "deliveries": {
        "associations": {
            "stateMachineState": {},
            "shippingOrderAddress": {"associations": {"country": {}}},
            "shippingMethod": {},
        }
    },
}

#: Delivery states (``order_delivery.state``) as shipment statuses. Shopware has no carrier scan states.
DELIVERY_STATUS = {
    "open": ShipmentStatus.CONFIRMED,
    "shipped": ShipmentStatus.IN_TRANSIT,
    "shipped_partially": ShipmentStatus.IN_TRANSIT,
    "returned": ShipmentStatus.FAILED,
    "returned_partially": ShipmentStatus.FAILED,
    "cancelled": ShipmentStatus.FAILED,
}
SHIPPED_STATES = frozenset({"shipped", "shipped_partially", "returned", "returned_partially"})
#: Where the chat order's cart reference is kept: the order's campaign code, searchable with an ``equals`` filter.
REFERENCE_PREFIX = "chatshop:"


def _state(entity: dict[str, Any] | None) -> str | None:
    return ((entity or {}).get("stateMachineState") or {}).get("technicalName")


def delivery_status(order: dict[str, Any], delivery: dict[str, Any]) -> ShipmentStatus:
    """A delivery's status; a shipped delivery of a completed order counts as delivered."""
    state = _state(delivery) or "open"
    status = DELIVERY_STATUS.get(state, ShipmentStatus.CONFIRMED)
    if state in ("shipped", "shipped_partially") and _state(order) == "completed":
        return ShipmentStatus.DELIVERED
    return status


def is_shipment(delivery: dict[str, Any]) -> bool:
    """Whether a delivery has become a shipment: it left the open state or got a tracking code.

    Every Shopware order has a delivery from the start; an open one without tracking is not a shipment yet."""
    return _state(delivery) not in (None, "open", "cancelled") or bool(delivery.get("trackingCodes"))


def fulfillment(order: dict[str, Any], delivery: dict[str, Any]) -> Fulfillment:
    codes = [c for c in delivery.get("trackingCodes") or [] if c]
    method = delivery.get("shippingMethod") or {}
    code = codes[-1] if codes else None
    template = method.get("trackingUrl") or None
    url = template.replace("%s", code) if template and code else None
    return Fulfillment(
        external_id=delivery["id"],
        status=delivery_status(order, delivery),
        tracking_company=(method.get("translated") or {}).get("name") or method.get("name") or None,
        tracking_number=code,
        tracking_url=url,
        updated_at=parse_datetime(delivery.get("updatedAt") or order.get("updatedAt")),
    )


def order_status(order: dict[str, Any]) -> OrderStatus:
    state = _state(order)
    if state == "cancelled":
        return OrderStatus.CANCELLED
    if state == "completed":
        return OrderStatus.COMPLETED
    payments = [_state(t) for t in order.get("transactions") or []]
    if payments and payments[-1] in ("refunded",):
        return OrderStatus.REFUNDED
    deliveries = [_state(d) for d in order.get("deliveries") or []]
    if deliveries and all(s == "shipped" for s in deliveries):
        return OrderStatus.FULFILLED
    if state == "in_progress" or (payments and payments[-1] in ("paid", "paid_partially", "authorized")):
        return OrderStatus.OPEN
    return OrderStatus.PENDING


def address(data: dict[str, Any] | None) -> Address | None:
    if not data:
        return None
    return Address(
        name=f"{data.get('firstName') or ''} {data.get('lastName') or ''}".strip(),
        line1=data.get("street") or "",
        line2=data.get("additionalAddressLine1") or "",
        postcode=data.get("zipcode") or "",
        city=data.get("city") or "",
        region=((data.get("countryState") or {}).get("name")) or "",
        country_code=((data.get("country") or {}).get("iso")) or "",
        company=data.get("company") or "",
        phone=data.get("phoneNumber") or "",
    )


def split_name(name: str) -> tuple[str, str]:
    """``("Ada", "Lovelace")`` from ``"Ada Lovelace"``; Shopware needs both names."""
    parts = name.strip().split(None, 1)
    if not parts:
        return "", ""
    return (parts[0], parts[1]) if len(parts) == 2 else (parts[0], parts[0])


def address_payload(value: Address, country_id: str, *, first_name: str = "", last_name: str = "") -> dict[str, Any]:
    """A canonical address as Shopware's address fields (Store API registration and ``order_address`` writes)."""
    first, last = split_name(value.name) if value.name.strip() else (first_name, last_name)
    return {
        "firstName": first or first_name,
        "lastName": last or last_name,
        "street": value.line1,
        "additionalAddressLine1": value.line2 or None,
        "zipcode": value.postcode,
        "city": value.city,
        "company": value.company or None,
        "phoneNumber": value.phone or None,
        "countryId": country_id,
    }


def to_order(data: dict[str, Any], *, payment_base_url: str | None = None) -> Order:
    """One Admin API order (read with :data:`ORDER_ASSOCIATIONS`) as a canonical order."""
    currency = (data.get("currency") or {}).get("isoCode") or "EUR"
    deliveries = data.get("deliveries") or []
    shipping = address(deliveries[0].get("shippingOrderAddress")) if deliveries else None
    addresses = data.get("addresses") or []
    billing = data.get("billingAddress") or next(
        (a for a in addresses if a.get("id") == data.get("billingAddressId")), None
    )
    customer = data.get("orderCustomer") or {}
    phone = (billing or {}).get("phoneNumber") or (shipping.phone if shipping else None)
    # The country the phone is read with: the billing address's, else the shipping address's.
    country = ((billing or {}).get("country") or {}).get("iso") or (shipping.country_code if shipping else None)
    lines = [
        OrderLine(
            variant_external_id=li.get("productId") or li.get("referencedId") or li.get("identifier") or "",
            title=li.get("label") or "",
            quantity=int(li.get("quantity") or 0),
            unit_price=Money(Decimal(str(li.get("unitPrice") or 0)), currency),
            sku=(li.get("payload") or {}).get("productNumber"),
        )
        for li in data.get("lineItems") or []
        if li.get("type") in (None, "product")
    ]
    campaign = data.get("campaignCode") or ""
    deep_link = data.get("deepLinkCode")
    return Order(
        external_id=data["id"],
        number=str(data.get("orderNumber") or ""),
        status=order_status(data),
        lines=lines,
        total=Money(Decimal(str(data.get("amountTotal") or 0)), currency),
        subtotal=Money(Decimal(str(data["positionPrice"])), currency)
        if data.get("positionPrice") is not None
        else None,
        shipping_total=Money(Decimal(str(data["shippingTotal"])), currency)
        if data.get("shippingTotal") is not None
        else None,
        customer=Customer(
            phone=phone or None,
            email=customer.get("email"),
            first_name=customer.get("firstName") or "",
            last_name=customer.get("lastName") or "",
            country_code=country or None,
        ),
        shipping_address=shipping,
        fulfillments=[fulfillment(data, d) for d in deliveries if is_shipment(d)],
        payment_url=f"{payment_base_url}/account/order/{deep_link}" if payment_base_url and deep_link else None,
        reference=campaign[len(REFERENCE_PREFIX) :] if campaign.startswith(REFERENCE_PREFIX) else None,
        created_at=parse_datetime(data.get("orderDateTime") or data.get("createdAt")),
        updated_at=parse_datetime(data.get("updatedAt") or data.get("createdAt")),
    )
