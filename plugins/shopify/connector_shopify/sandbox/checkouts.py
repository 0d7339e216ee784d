"""Checkouts as Shopify keeps them: started on the storefront, changed, abandoned or completed.

A checkout is an ``AbandonedCheckout`` record in GraphQL shape (``abandonedCheckouts`` query, API 2024-10 on) and a
REST ``checkout`` body for the ``checkouts/create`` and ``checkouts/update`` webhooks (Shopify sends no
"abandoned" event: an app applies its own delay after the last update). ``abandonedCheckoutUrl`` is the recovery
link (``https://<shop>/<shop id>/checkouts/<token>/recover?key=<key>``), served by the sandbox as a page showing
the cart. Completing a checkout creates its paid order (``orders/create``, ``orders/paid``) and sends
``checkouts/update`` with ``completed_at``.
"""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from connector_shopify.sandbox import rest
from connector_shopify.sandbox.store import gid, iso, money_bag, now

if TYPE_CHECKING:
    from connector_shopify.sandbox.api import ShopApi
    from connector_shopify.sandbox.store import Store

#: The shop's numeric id in recovery links (Shopify puts the shop id there).
SHOP_NUM = 548380009


class CheckoutError(ValueError):
    """A control request the sandbox cannot turn into a checkout (unknown variant, bad quantity)."""


def _lines(store: Store, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    lines = []
    for item in items:
        variant = store.variant_by_canonical(str(item.get("variant_id")))
        if variant is None:
            raise CheckoutError(f"no variant {item.get('variant_id')!r}")
        quantity = item.get("quantity", 1)
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
            raise CheckoutError(f"quantity must be a whole number of at least 1, got {quantity!r}")
        num = 12_000_000_000 + store.next_id("line")
        price = Decimal(str(variant["price"]))
        lines.append(
            {
                "__typename": "AbandonedCheckoutLineItem",
                "_num": num,
                "id": gid("AbandonedCheckoutLineItem", num),
                "title": variant["_product"]["title"],
                "variantTitle": variant["title"],
                "quantity": quantity,
                "sku": variant["sku"],
                "variant": variant,
                "product": variant["_product"],
                "originalUnitPriceSet": money_bag(price, store.currency),
                "originalTotalPriceSet": money_bag(price * quantity, store.currency),
                "discountedUnitPriceSet": money_bag(price, store.currency),
                "discountedTotalPriceSet": money_bag(price * quantity, store.currency),
            }
        )
    return lines


def _totals(record: dict[str, Any], currency: str) -> None:
    total = sum(
        (Decimal(line["originalTotalPriceSet"]["shopMoney"]["amount"]) for line in record["_lines"]), Decimal(0)
    )
    record["subtotalPriceSet"] = money_bag(total, currency)
    record["totalLineItemsPriceSet"] = money_bag(total, currency)
    record["totalPriceSet"] = money_bag(total, currency)
    record["totalTaxSet"] = money_bag(Decimal(0), currency)
    record["totalDiscountSet"] = money_bag(Decimal(0), currency)


def start(api: ShopApi, data: dict[str, Any]) -> dict[str, Any]:
    """A customer started a checkout (``checkouts/create``)."""
    store = api.store
    num = 31_000_000_000 + store.next_id("checkout")
    token = secrets.token_hex(16)
    stamp = now()
    first, last = str(data.get("first_name") or ""), str(data.get("last_name") or "")
    phone, email = data.get("phone"), data.get("email")
    country = data.get("country_code") or "DE"
    address = {
        "__typename": "MailingAddress",
        "firstName": first or None,
        "lastName": last or None,
        "name": f"{first} {last}".strip() or None,
        "phone": phone,
        "countryCodeV2": country,
        "country": country,
        "city": data.get("city"),
        "zip": data.get("zip"),
        "address1": data.get("address1"),
    }
    record: dict[str, Any] = {
        "__typename": "AbandonedCheckout",
        "_num": num,
        "_token": token,
        "_created": stamp,
        "_updated": stamp,
        "_lines": _lines(store, list(data.get("lines") or [])),
        "_email": email,
        "_phone": phone,
        "_locale": data.get("locale") or "en",
        "id": gid("AbandonedCheckout", num),
        "name": f"#{num}",
        "abandonedCheckoutUrl": f"{store.base_url}/{SHOP_NUM}/checkouts/{token}/recover?key={secrets.token_hex(16)}",
        "completedAt": None,
        "createdAt": iso(stamp),
        "updatedAt": iso(stamp),
        "note": None,
        "taxesIncluded": True,
        "customAttributes": [],
        "discountCodes": [],
        "billingAddress": address,
        "shippingAddress": address,
        "customer": {
            "__typename": "Customer",
            "id": gid("Customer", num + 7),
            "firstName": first or None,
            "lastName": last or None,
            "email": email,
            "phone": phone,
        }
        if email or phone
        else None,
    }
    if not record["_lines"]:
        raise CheckoutError("a checkout needs at least one line")
    _totals(record, store.currency)
    store.checkouts.add(record)
    api.emit("checkouts/create", record, rest.checkout_json(record, store.currency))
    return record


def update(api: ShopApi, record: dict[str, Any], data: dict[str, Any]) -> None:
    """The customer changed the cart (``checkouts/update``)."""
    store = api.store
    if data.get("lines"):
        record["_lines"] = _lines(store, list(data["lines"]))
        _totals(record, store.currency)
    stamp = now()
    record["_updated"], record["updatedAt"] = stamp, iso(stamp)
    api.emit("checkouts/update", record, rest.checkout_json(record, store.currency))


def complete(api: ShopApi, record: dict[str, Any]) -> dict[str, Any]:
    """The customer paid: the checkout's paid order (``orders/create``) and ``checkouts/update`` with
    ``completed_at``."""
    from connector_shopify.sandbox.resolvers import order_create

    if record["completedAt"] is not None:
        raise CheckoutError("the checkout is completed already")
    address = record["shippingAddress"] or {}
    answer = order_create(
        api,
        {
            "order": {
                "lineItems": [
                    {"variantId": line["variant"]["id"], "quantity": line["quantity"]} for line in record["_lines"]
                ],
                "email": record["_email"],
                "phone": record["_phone"],
                "financialStatus": "PAID",
                "sourceName": "web",
                "shippingAddress": {
                    "firstName": address.get("firstName"),
                    "lastName": address.get("lastName"),
                    "countryCode": address.get("countryCodeV2"),
                    "phone": address.get("phone"),
                },
            }
        },
    )
    stamp = now()
    record["completedAt"] = iso(stamp)
    record["_updated"], record["updatedAt"] = stamp, iso(stamp)
    api.emit("checkouts/update", record, rest.checkout_json(record, api.store.currency))
    return dict(answer["order"] or {})


def by_token(store: Store, token: str) -> dict[str, Any] | None:
    """The checkout a recovery link names."""
    return next((c for c in store.checkouts.by_id.values() if c["_token"] == token), None)
