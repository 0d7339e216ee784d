"""The sandbox's order side: Store API guest checkout, order snapshots, delivery states and order addresses.

Functions here expect the store's lock to be held by the caller.
"""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Any

from connector_shopware.sandbox.entities import iso
from connector_shopware.sandbox.store import (
    DEFAULT_CURRENCY_ID,
    TAX_RATE,
    ShopStore,
    StoreError,
    money,
    new_id,
    now,
    sw_id,
)

ADDRESS_FIELDS = ("firstName", "lastName", "street", "zipcode", "city", "countryId")
ORDER_STATES = {"open": "Open", "in_progress": "In progress", "completed": "Done", "cancelled": "Cancelled"}
DELIVERY_STATES = {
    "open": "Open",
    "shipped": "Shipped",
    "shipped_partially": "Shipped (partially)",
    "returned": "Returned",
    "returned_partially": "Returned (partially)",
    "cancelled": "Cancelled",
}


TRANSACTION_STATES = {
    "open": "Open",
    "paid": "Paid",
    "paid_partially": "Paid (partially)",
    "cancelled": "Cancelled",
    "reminded": "Reminded",
}
#: The order_transaction state machine's transitions the sandbox knows: action name -> (from states, to state).
TRANSACTION_TRANSITIONS = {
    "paid": (("open", "reminded", "paid_partially"), "paid"),
    "paid_partially": (("open", "reminded"), "paid_partially"),
    "remind": (("open",), "reminded"),
    "cancel": (("open", "reminded"), "cancelled"),
}


def _state(technical: str, names: dict[str, str], machine: str) -> dict[str, Any]:
    return {"id": sw_id("state", machine, technical), "technicalName": technical, "name": names[technical]}


def _violation(field: str, message: str = "This value should not be blank.") -> StoreError:
    return StoreError(400, "VIOLATION::IS_BLANK_ERROR", f"{field}: {message}", "Constraint violation error")


def _address(store: ShopStore, data: Any, where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise _violation(where)
    for key in ADDRESS_FIELDS:
        if not str(data.get(key) or "").strip():
            raise _violation(f"/{where}/{key}")
    country = store.countries.get(data["countryId"])
    if country is None:
        raise StoreError(
            400, "VIOLATION::COUNTRY_NOT_FOUND", f"/{where}/countryId: The country {data['countryId']} was not found."
        )
    return {
        "id": new_id(),
        "firstName": data["firstName"],
        "lastName": data["lastName"],
        "street": data["street"],
        "additionalAddressLine1": data.get("additionalAddressLine1"),
        "zipcode": data["zipcode"],
        "city": data["city"],
        "company": data.get("company"),
        "phoneNumber": data.get("phoneNumber"),
        "countryId": country["id"],
        "country": country,
        "countryStateId": None,
    }


def register_guest(store: ShopStore, data: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """``POST /store-api/account/register`` with ``guest: true``: a guest customer and a new context token."""
    for key in ("email", "firstName", "lastName", "storefrontUrl"):
        if not str(data.get(key) or "").strip():
            raise _violation(f"/{key}")
    if "@" not in str(data["email"]):
        raise StoreError(400, "VIOLATION::INVALID_EMAIL", "/email: This value is not a valid email address.")
    if not data.get("guest"):
        raise _violation("/password")  # registered accounts need a password; the sandbox only does guests
    billing = _address(store, data.get("billingAddress"), "billingAddress")
    shipping = _address(store, data["shippingAddress"], "shippingAddress") if data.get("shippingAddress") else billing
    customer_id = new_id()
    customer = {
        "id": customer_id,
        "guest": True,
        "email": data["email"],
        "firstName": data["firstName"],
        "lastName": data["lastName"],
        "customerNumber": str(len(store.customers) + 10000),
        "defaultBillingAddress": billing,
        "defaultShippingAddress": shipping,
        "createdAt": iso(now()),
        "apiAlias": "customer",
    }
    store.customers[customer_id] = customer
    token = secrets.token_hex(16)
    store.contexts[token] = {"customerId": customer_id, "lineItems": [], "errors": {}}
    return customer, token


def context(store: ShopStore, token: str | None) -> dict[str, Any]:
    """The context of ``sw-context-token``; a missing or unknown token starts an empty anonymous one."""
    if token and token in store.contexts:
        return store.contexts[token]
    return {"customerId": None, "lineItems": [], "errors": {}}


def _unit_gross(store: ShopStore, product: dict[str, Any]) -> Decimal:
    price = store._inherited(product, "price") or []
    entry = next((p for p in price if p["currencyId"] == DEFAULT_CURRENCY_ID), None)
    return Decimal(str(entry["gross"])) if entry else Decimal("0")


def add_line_items(store: ShopStore, ctx: dict[str, Any], items: Any) -> None:
    """``POST /store-api/checkout/cart/line-item``. Problems become cart errors, as in Shopware."""
    if not isinstance(items, list) or not items:
        raise _violation("/items")
    for item in items:
        if not isinstance(item, dict) or item.get("type") != "product" or not item.get("referencedId"):
            raise StoreError(400, "CHECKOUT__CART_INVALID_LINE_ITEM_PAYLOAD", f"Line item {item!r} is invalid")
        quantity = item.get("quantity", 1)
        if not isinstance(quantity, int) or quantity < 1:
            raise StoreError(
                400,
                "CHECKOUT__CART_INVALID_LINE_ITEM_QUANTITY",
                f"The quantity must be a positive integer, got {quantity!r}",
            )
        product = store.products.get(item["referencedId"])
        key = item["referencedId"]
        if product is None or product["childCount"] or not store._inherited(product, "active"):
            ctx["errors"][f"product-not-found{key}"] = {
                "key": f"product-not-found{key}",
                "level": 10,
                "message": "product-not-found",
            }
            continue
        existing = next((li for li in ctx["lineItems"] if li["referencedId"] == key), None)
        wanted = quantity + (existing["quantity"] if existing else 0)
        if store._inherited(product, "isCloseout") and wanted > product["availableStock"]:
            wanted = max(0, product["availableStock"])
            ctx["errors"][f"product-stock-reached{key}"] = {
                "key": f"product-stock-reached{key}",
                "level": 10,
                "message": "product-stock-reached",
            }
        if existing:
            existing["quantity"] = wanted
        elif wanted:
            ctx["lineItems"].append(
                {"id": item.get("id") or key, "referencedId": key, "type": "product", "quantity": wanted}
            )
        ctx["lineItems"] = [li for li in ctx["lineItems"] if li["quantity"] > 0]


def cart_json(store: ShopStore, token: str, ctx: dict[str, Any]) -> dict[str, Any]:
    items, total = [], Decimal("0")
    for li in ctx["lineItems"]:
        product = store.products[li["referencedId"]]
        unit = _unit_gross(store, product)
        total += unit * li["quantity"]
        items.append(
            {
                **li,
                "label": store._inherited(product, "name"),
                "price": {
                    "unitPrice": money(unit),
                    "totalPrice": money(unit * li["quantity"]),
                    "quantity": li["quantity"],
                },
                "payload": {"productNumber": product["productNumber"]},
            }
        )
    return {
        "token": token,
        "lineItems": items,
        "price": {"totalPrice": money(total), "positionPrice": money(total)},
        "errors": ctx["errors"],
        "apiAlias": "cart",
    }


def place_order(store: ShopStore, ctx: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """``POST /store-api/checkout/order``: the cart becomes an open order with an open delivery and payment."""
    customer = store.customers.get(ctx["customerId"] or "")
    if customer is None:
        raise StoreError(403, "CHECKOUT__CUSTOMER_NOT_LOGGED_IN", "Customer is not logged in.", "Forbidden")
    if not ctx["lineItems"]:
        raise StoreError(400, "CHECKOUT__CART_EMPTY", "Cart is empty.")
    moment = now()
    order_id = new_id()
    lines, positions = [], Decimal("0")
    for li in ctx["lineItems"]:
        product = store.products[li["referencedId"]]
        unit = _unit_gross(store, product)
        positions += unit * li["quantity"]
        lines.append(
            {
                "id": new_id(),
                "orderId": order_id,
                "identifier": li["referencedId"],
                "referencedId": li["referencedId"],
                "productId": li["referencedId"],
                "type": "product",
                "label": store._inherited(product, "name"),
                "quantity": li["quantity"],
                "unitPrice": money(unit),
                "totalPrice": money(unit * li["quantity"]),
                "payload": {"productNumber": product["productNumber"]},
            }
        )
        product["stock"] -= li["quantity"]
        product["availableStock"] -= li["quantity"]
        product["available"] = product["availableStock"] > 0
    shipping_cost = Decimal(str(store.options.get("shipping_cost", "4.90")))
    total = positions + shipping_cost
    billing = {**customer["defaultBillingAddress"], "id": new_id(), "orderId": order_id}
    shipping_src = customer["defaultShippingAddress"]
    shipping = (
        billing
        if shipping_src is customer["defaultBillingAddress"]
        else {**shipping_src, "id": new_id(), "orderId": order_id}
    )
    addresses = [billing] if shipping is billing else [billing, shipping]
    number = str(store.next_order_number)
    store.next_order_number += 1
    order = {
        "id": order_id,
        "versionId": sw_id("live"),
        "orderNumber": number,
        "salesChannelId": store.sales_channel_id,
        "currencyId": DEFAULT_CURRENCY_ID,
        "currencyFactor": 1.0,
        "currency": {"id": DEFAULT_CURRENCY_ID, "isoCode": "EUR", "symbol": "€"},
        "orderDateTime": iso(moment),
        "createdAt": iso(moment),
        "updatedAt": None,
        "price": {
            "netPrice": money(total / (1 + TAX_RATE / 100)),
            "totalPrice": money(total),
            "positionPrice": money(positions),
            "rawTotal": money(total),
            "taxStatus": "gross",
        },
        "amountTotal": money(total),
        "amountNet": money(total / (1 + TAX_RATE / 100)),
        "positionPrice": money(positions),
        "shippingTotal": money(shipping_cost),
        "stateId": _state("open", ORDER_STATES, "order")["id"],
        "stateMachineState": _state("open", ORDER_STATES, "order"),
        "orderCustomer": {
            "id": new_id(),
            "customerId": customer["id"],
            "email": customer["email"],
            "firstName": customer["firstName"],
            "lastName": customer["lastName"],
            "customerNumber": customer["customerNumber"],
        },
        "billingAddressId": billing["id"],
        "billingAddress": billing,
        "addresses": addresses,
        "lineItems": lines,
        "deliveries": [
            {
                "id": new_id(),
                "orderId": order_id,
                "shippingOrderAddressId": shipping["id"],
                "shippingOrderAddress": shipping,
                "trackingCodes": [],
                "shippingDateEarliest": iso(moment),
                "shippingDateLatest": iso(moment),
                "shippingMethod": {"id": sw_id("shipping", "standard"), "name": "Standard", "trackingUrl": None},
                "shippingCosts": {"unitPrice": money(shipping_cost), "totalPrice": money(shipping_cost), "quantity": 1},
                "stateId": _state("open", DELIVERY_STATES, "delivery")["id"],
                "stateMachineState": _state("open", DELIVERY_STATES, "delivery"),
                "updatedAt": None,
            }
        ],
        "transactions": [
            {
                "id": new_id(),
                "orderId": order_id,
                "paymentMethod": {"id": sw_id("payment", "prepayment"), "name": "Paid in advance"},
                "amount": {"totalPrice": money(total)},
                "stateMachineState": _state("open", TRANSACTION_STATES, "transaction"),
            }
        ],
        "customerComment": data.get("customerComment"),
        "campaignCode": data.get("campaignCode"),
        "affiliateCode": data.get("affiliateCode"),
        "deepLinkCode": secrets.token_urlsafe(24),
        "apiAlias": "order",
    }
    store.orders[order_id] = order
    for address in addresses:
        store.order_addresses[address["id"]] = (order_id, address)
    ctx["lineItems"] = []
    ctx["errors"] = {}
    store._written([store.products[li["productId"]] for li in lines], ["stock", "availableStock", "available"])
    store._dispatch("checkout.order.placed", {"order": order})
    store._dispatch("order.written", [_written_entry(order_id, "insert", ["id", "orderNumber"])])
    return order


def _written_entry(primary_key: str, operation: str, fields: list[str]) -> dict[str, Any]:
    return {"entity": "order", "operation": operation, "primaryKey": primary_key, "updatedFields": fields}


def _order(store: ShopStore, order_id: str) -> dict[str, Any]:
    order = store.orders.get(order_id)
    if order is None:
        raise StoreError(404, "FRAMEWORK__RESOURCE_NOT_FOUND", f"The order resource with id {order_id} was not found.")
    return order


def _set_delivery_state(store: ShopStore, order: dict[str, Any], delivery: dict[str, Any], state: str) -> None:
    delivery["stateMachineState"] = _state(state, DELIVERY_STATES, "delivery")
    delivery["stateId"] = delivery["stateMachineState"]["id"]
    delivery["updatedAt"] = order["updatedAt"] = iso(now())
    store._dispatch(f"state_enter.order_delivery.state.{state}", {"order": order})


def ship(store: ShopStore, order_id: str, company: str, number: str, url: str | None) -> None:
    """What the merchant does in the Administration: add the tracking code, then the ``ship`` transition."""
    order = _order(store, order_id)
    delivery = order["deliveries"][0]
    tracking_url = url.replace(number, "%s") if url and number in url else url
    delivery["shippingMethod"] = {"id": sw_id("shipping", company), "name": company, "trackingUrl": tracking_url}
    if number not in delivery["trackingCodes"]:
        delivery["trackingCodes"] = [*delivery["trackingCodes"], number]
    _set_delivery_state(store, order, delivery, "shipped")


def move_delivery(store: ShopStore, order_id: str, status: str) -> None:
    """The canonical shipment statuses as far as Shopware has them (it has no carrier scan states)."""
    order = _order(store, order_id)
    delivery = order["deliveries"][0]
    current = delivery["stateMachineState"]["technicalName"]
    if status == "in_transit" and current != "shipped":
        _set_delivery_state(store, order, delivery, "shipped")
    elif status == "failed":
        _set_delivery_state(store, order, delivery, "returned")
    elif status == "delivered":
        order["stateMachineState"] = _state("completed", ORDER_STATES, "order")
        order["stateId"] = order["stateMachineState"]["id"]
        order["updatedAt"] = iso(now())
        store._dispatch("state_enter.order.state.completed", {"order": order})
    elif status in ("in_transit", "out_for_delivery", "delayed"):
        # No such state in Shopware: a carrier plugin would write the order; the write is all that is seen.
        order["updatedAt"] = iso(now())
        store._dispatch("order.written", [_written_entry(order_id, "update", ["updatedAt"])])
    else:
        raise StoreError(400, "SANDBOX__UNKNOWN_STATUS", f"unknown delivery status {status!r}")


def update_order_address(store: ShopStore, address_id: str, data: dict[str, Any]) -> None:
    """``PATCH /api/order-address/{id}``: a plain DAL write (Shopware itself does not check shipping state)."""
    found = store.order_addresses.get(address_id)
    if found is None:
        raise StoreError(
            404, "FRAMEWORK__RESOURCE_NOT_FOUND", f"The order_address resource with id {address_id} was not found."
        )
    order_id, address = found
    writable = {
        "firstName",
        "lastName",
        "street",
        "additionalAddressLine1",
        "zipcode",
        "city",
        "company",
        "phoneNumber",
        "countryId",
    }
    unknown = set(data) - writable - {"id"}
    if unknown:
        raise StoreError(400, "FRAMEWORK__WRITE_UNEXPECTED_FIELD", f"Unexpected field: {', '.join(sorted(unknown))}")
    if "countryId" in data:
        country = store.countries.get(data["countryId"])
        if country is None:
            raise StoreError(
                400, "VIOLATION::COUNTRY_NOT_FOUND", f"/countryId: The country {data['countryId']} was not found."
            )
        address["country"] = country
    for key in ("firstName", "lastName", "street", "zipcode", "city", "countryId"):
        if key in data and not str(data[key] or "").strip():
            raise _violation(f"/{key}")
    address.update({k: v for k, v in data.items() if k in writable})
    order = store.orders[order_id]
    order["updatedAt"] = iso(now())
    store._dispatch("order.written", [_written_entry(order_id, "update", ["updatedAt"])])


def transition_transaction(store: ShopStore, transaction_id: str, transition: str) -> dict[str, Any]:
    """``POST /api/_action/order_transaction/{id}/state/{transition}``: the payment moves (``paid`` when the
    customer paid), with its ``state_enter`` webhook; an impossible transition is refused listing the possible."""
    found = next(
        ((o, t) for o in store.orders.values() for t in o.get("transactions") or [] if t["id"] == transaction_id),
        None,
    )
    if found is None:
        raise StoreError(
            404,
            "FRAMEWORK__RESOURCE_NOT_FOUND",
            f"The order_transaction resource with id {transaction_id} was not found.",
        )
    order, transaction = found
    current = transaction["stateMachineState"]["technicalName"]
    possible = [name for name, (sources, _) in TRANSACTION_TRANSITIONS.items() if current in sources]
    if transition not in possible:
        raise StoreError(
            400,
            "SYSTEM__ILLEGAL_STATE_TRANSITION",
            f'Illegal transition "{transition}" from state "{current}". Possible transitions are: '
            + ", ".join(possible),
        )
    target = TRANSACTION_TRANSITIONS[transition][1]
    transaction["stateMachineState"] = _state(target, TRANSACTION_STATES, "transaction")
    transaction["stateId"] = transaction["stateMachineState"]["id"]
    order["updatedAt"] = iso(now())
    store._dispatch(f"state_enter.order_transaction.state.{target}", {"order": order})
    store._dispatch("order.written", [_written_entry(order["id"], "update", ["transactions"])])
    return dict(transaction["stateMachineState"])
