"""Resolvers for the Admin API fields the sandbox implements (queries and mutations)."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from connector_shopify.sandbox import access, search
from connector_shopify.sandbox.executor import Context
from connector_shopify.sandbox.pagination import connection, list_connection
from connector_shopify.sandbox.store import Store, gid, gid_num, iso, money_bag, now

if TYPE_CHECKING:
    from connector_shopify.sandbox.api import ShopApi

_PHONE = re.compile(r"^\+[1-9]\d{6,14}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _digits(value: Any) -> str | None:
    return re.sub(r"\D", "", value) if value else None


PRODUCT_SEARCH: dict[str, search.Getter] = {
    "updated_at": lambda r: r["_updated"],
    "created_at": lambda r: r["_created"],
    "id": lambda r: r["_num"],
    "status": lambda r: r["status"],
    "handle": lambda r: r["handle"],
    "title": lambda r: r["title"],
    "vendor": lambda r: r["vendor"],
    "product_type": lambda r: r["productType"],
    "tag": lambda r: r["tags"],
    # free text: Shopify's default product fields
    search.TEXT: lambda r: [r["title"], r["handle"], r["vendor"], r["productType"], *r["tags"]],
}
VARIANT_SEARCH: dict[str, search.Getter] = {
    "updated_at": lambda r: r["_updated"],
    "id": lambda r: r["_num"],
    "product_id": lambda r: r["_product"]["_num"],
    "product_ids": lambda r: r["_product"]["_num"],  # product_ids:1,2,3 (search.LIST_KEYS)
    "sku": lambda r: r["sku"],
    "inventory_item_id": lambda r: r["inventoryItem"]["_num"],
    "product_status": lambda r: r["_product"]["status"],
    search.TEXT: lambda r: [r["_product"]["title"], r.get("title"), r["sku"], r.get("barcode")],
}
ORDER_SEARCH: dict[str, search.Getter] = {
    "updated_at": lambda r: r["_updated"],
    "created_at": lambda r: r["_created"],
    "id": lambda r: r["_num"],
    "name": lambda r: [r["name"], r["name"].lstrip("#")],
    "email": lambda r: r["email"],
    "phone": lambda r: _digits(r["phone"]),
    "tag": lambda r: r["tags"],
    "financial_status": lambda r: r["displayFinancialStatus"],
    "fulfillment_status": lambda r: r["displayFulfillmentStatus"],
    "source_identifier": lambda r: r["sourceIdentifier"],
    search.TEXT: lambda r: [r["name"], r["email"], r["phone"], *r["tags"]],
}


def _number(term: search.Term) -> int | None:
    return int(term.value) if term.op == "=" and term.value.isdigit() else None


def product_indexes(store: Store) -> dict[str, search.Index]:
    """The search index of products: id and updated_at."""

    def by_id(term: search.Term) -> list[int] | None:
        num = _number(term)
        return None if num is None else [num]

    return {"id": by_id, "updated_at": lambda t: store.products.updated_ids(t.op, search.timestamp(t))}


def variant_indexes(store: Store) -> dict[str, search.Index]:
    """The search index of variants: id, product_id, inventory_item_id and updated_at."""

    def by_id(term: search.Term) -> list[int] | None:
        num = _number(term)
        return None if num is None else [num]

    def by_product(term: search.Term) -> list[int] | None:
        num = _number(term)
        if num is None:
            return None
        product = store.products.by_id.get(num)
        return [v["_num"] for v in product["_variants"]] if product else []

    def by_item(term: search.Term) -> list[int] | None:
        num = _number(term)
        if num is None:
            return None
        variant = store.items.get(num)
        return [variant["_num"]] if variant else []

    def by_products(term: search.Term) -> list[int] | None:
        found: list[int] = []
        for value in term.value.split(","):
            ids = by_product(search.Term(term.negate, "product_id", term.op, value.strip()))
            if ids is None:
                return None
            found.extend(ids)
        return found

    return {
        "id": by_id,
        "product_id": by_product,
        "product_ids": by_products,
        "inventory_item_id": by_item,
        "updated_at": lambda t: store.variants.updated_ids(t.op, search.timestamp(t)),
    }


BULK_SEARCH: dict[str, search.Getter] = {
    "id": lambda r: r["_num"],
    "status": lambda r: r["status"],
    "operation_type": lambda r: r["type"],
    "created_at": lambda r: r["_created"],
}


CHECKOUT_SEARCH: dict[str, search.Getter] = {
    "updated_at": lambda r: r["_updated"],
    "created_at": lambda r: r["_created"],
    "id": lambda r: r["_num"],
    "status": lambda r: "closed" if r["completedAt"] else "open",
    "recovery_state": lambda r: "recovered" if r["completedAt"] else "not_recovered",
    "email_state": lambda r: "not_sent",
}


def _order_matcher(query: str | None) -> Callable[[dict[str, Any]], bool] | None:
    # Shopify matches phone numbers however they are written: compare digits only.
    if query:
        query = re.sub(r"phone:(['\"]?)\+?([\d\s\-()]+)\1", lambda m: f"phone:{_digits(m[2])}", query)
    return search.matcher(query, ORDER_SEARCH, "orders")


def build(api: ShopApi) -> dict[tuple[str, str], Callable[[Any, dict[str, Any], Context], Any]]:
    """Every resolver, keyed by ``(TypeName, fieldName)``."""
    store = api.store
    page_max = api.max_page_size

    product_index, variant_index = product_indexes(store), variant_indexes(store)

    def products(_s: Any, args: dict[str, Any], ctx: Context) -> Any:
        predicate = search.matcher(args.get("query"), PRODUCT_SEARCH, "products")
        only = search.candidates(args.get("query"), product_index)
        return connection(store.products, args, predicate, ctx, page_max, only)

    def product_variants(_s: Any, args: dict[str, Any], ctx: Context) -> Any:
        predicate = search.matcher(args.get("query"), VARIANT_SEARCH, "productVariants")
        only = search.candidates(args.get("query"), variant_index)
        return connection(store.variants, args, predicate, ctx, page_max, only)

    def orders(_s: Any, args: dict[str, Any], ctx: Context) -> Any:
        return connection(store.orders, args, _order_matcher(args.get("query")), ctx, page_max)

    def abandoned_checkouts(_s: Any, args: dict[str, Any], ctx: Context) -> Any:
        predicate = search.matcher(args.get("query"), CHECKOUT_SEARCH, "abandonedCheckouts")
        return connection(store.checkouts, args, predicate, ctx, page_max)

    def by_kind(kind: str) -> Callable[[Any, dict[str, Any], Context], Any]:
        def resolve(_s: Any, args: dict[str, Any], _ctx: Context) -> Any:
            record = store.node(args["id"])
            return record if record is not None and record["__typename"] == kind else None

        return resolve

    def first_n(key: str) -> Callable[[Any, dict[str, Any], Context], Any]:
        def resolve(source: dict[str, Any], args: dict[str, Any], _ctx: Context) -> Any:
            items = source[key]
            return items if args.get("first") is None else items[: args["first"]]

        return resolve

    def node(_s: Any, args: dict[str, Any], _ctx: Context) -> Any:
        record = store.node(args["id"])
        access.check_node(api.access_scopes, record, ["node"])
        return record

    def nodes(_s: Any, args: dict[str, Any], _ctx: Context) -> Any:
        records = [store.node(i) for i in args["ids"]]
        for index, record in enumerate(records):
            access.check_node(api.access_scopes, record, ["nodes", index])
        return records

    def bulk_operations(_s: Any, args: dict[str, Any], ctx: Context) -> Any:
        # Newest first by default (Shopify: "Defaults to sorting by created_at, with newest operations first").
        predicate = search.matcher(args.get("query"), BULK_SEARCH, "bulkOperations")
        ops = [op for op in store.bulk_ops.values() if predicate is None or predicate(op)]
        return list_connection(ops, {**args, "reverse": not args.get("reverse")}, ctx, page_max)

    def current_bulk(_s: Any, args: dict[str, Any], _ctx: Context) -> Any:
        kind = args.get("type") or "QUERY"
        ops = [op for op in store.bulk_ops.values() if op["type"] == kind]
        return ops[-1] if ops else None

    def webhook_subscriptions(_s: Any, args: dict[str, Any], ctx: Context) -> Any:
        subs = store.subscriptions
        if args.get("topics"):
            subs = [s for s in subs if s["topic"] in args["topics"]]
        wanted = args.get("uri") or args.get("callbackUrl")  # callbackUrl: deprecated since 2025-10, still served
        if wanted:
            subs = [s for s in subs if s["_url"] == wanted]
        return list_connection(subs, args, ctx, page_max)

    return {
        ("QueryRoot", "shop"): lambda _s, _a, _c: store.shop,
        ("QueryRoot", "products"): products,
        ("QueryRoot", "productVariants"): product_variants,
        ("QueryRoot", "orders"): orders,
        ("QueryRoot", "abandonedCheckouts"): abandoned_checkouts,
        ("AbandonedCheckout", "lineItems"): lambda s, a, c: list_connection(s["_lines"], a, c, page_max),
        ("QueryRoot", "product"): by_kind("Product"),
        ("QueryRoot", "productVariant"): by_kind("ProductVariant"),
        ("QueryRoot", "order"): by_kind("Order"),
        ("QueryRoot", "inventoryItem"): by_kind("InventoryItem"),
        ("QueryRoot", "node"): node,
        ("QueryRoot", "nodes"): nodes,
        ("QueryRoot", "currentAppInstallation"): lambda _s, _a, _c: access.app_installation(api.access_scopes),
        ("QueryRoot", "currentBulkOperation"): current_bulk,
        ("QueryRoot", "bulkOperations"): bulk_operations,
        ("QueryRoot", "webhookSubscriptions"): webhook_subscriptions,
        ("Product", "variantsCount"): lambda s, _a, _c: {
            "__typename": "Count",
            "count": len(s["_variants"]),
            "precision": "EXACT",
        },
        ("ProductVariant", "media"): lambda s, a, c: list_connection(s["_media"], a, c, page_max),
        ("Product", "variants"): lambda s, a, c: list_connection(s["_variants"], a, c, page_max),
        ("Product", "description"): lambda s, a, _c: (
            s["description"][: a["truncateAt"]] if a.get("truncateAt") else s["description"]
        ),
        ("Order", "lineItems"): lambda s, a, c: list_connection(s["_lines"], a, c, page_max),
        ("Order", "fulfillments"): first_n("_fulfillments"),
        ("Fulfillment", "trackingInfo"): first_n("_trackingInfo"),
        ("Fulfillment", "events"): lambda s, a, c: list_connection(s["_events"], a, c, page_max),
        ("Mutation", "orderCreate"): lambda _s, a, _c: order_create(api, a),
        ("Mutation", "orderUpdate"): lambda _s, a, _c: order_update(api, a),
        ("Mutation", "webhookSubscriptionCreate"): lambda _s, a, _c: webhook_create(api, a),
        ("Mutation", "webhookSubscriptionDelete"): lambda _s, a, _c: webhook_delete(api, a),
        ("Mutation", "bulkOperationRunQuery"): lambda _s, a, _c: api.bulk.run(a["query"], bool(a.get("groupObjects"))),
    }


# --------------------------------------------------------------------------- mutations


def _user_error(field: list[str], message: str) -> dict[str, Any]:
    """A plain ``UserError`` (``field`` and ``message``; the type has no ``code``)."""
    return {"__typename": "UserError", "field": field, "message": message}


def _order_create_error(field: list[str], message: str) -> dict[str, Any]:
    """An ``OrderCreateUserError``; ``INVALID`` is the ``OrderCreateUserErrorCode`` for input Shopify refuses."""
    return {"__typename": "OrderCreateUserError", "field": field, "message": message, "code": "INVALID"}


def mailing_address(data: dict[str, Any] | None) -> dict[str, Any] | None:
    if not data:
        return None
    first, last = data.get("firstName") or "", data.get("lastName") or ""
    return {
        "__typename": "MailingAddress",
        "firstName": first or None,
        "lastName": last or None,
        "name": f"{first} {last}".strip() or None,
        "company": data.get("company"),
        "address1": data.get("address1"),
        "address2": data.get("address2"),
        "city": data.get("city"),
        "zip": data.get("zip"),
        "provinceCode": data.get("provinceCode"),
        "province": data.get("provinceCode"),
        "countryCodeV2": data.get("countryCode"),
        "country": data.get("countryCode"),
        "phone": data.get("phone"),
    }


def order_create(api: ShopApi, args: dict[str, Any]) -> dict[str, Any]:
    """``orderCreate``: an order for a cart, payment pending unless told otherwise."""
    store = api.store
    data = args["order"]
    errors: list[dict[str, Any]] = []
    if data.get("phone") and not _PHONE.match(data["phone"]):
        errors.append(_order_create_error(["order", "phone"], "Phone is invalid"))
    if data.get("email") and not _EMAIL.match(data["email"]):
        errors.append(_order_create_error(["order", "email"], "Email is invalid"))
    if not data.get("lineItems"):
        errors.append(_order_create_error(["order", "lineItems"], "Line items must have at least one line item"))
    lines = []
    subtotal = Decimal(0)
    for i, item in enumerate(data.get("lineItems") or []):
        variant = None
        if item.get("variantId"):
            variant = store.variants.by_id.get(gid_num(item["variantId"], "ProductVariant") or -1)
            if variant is None:
                errors.append(
                    _order_create_error(["order", "lineItems", str(i), "variantId"], "Variant does not exist")
                )
                continue
        elif not item.get("title") or not item.get("priceSet"):
            errors.append(
                _order_create_error(["order", "lineItems", str(i)], "A custom line item needs a title and priceSet")
            )
            continue
        if item["quantity"] < 1:
            errors.append(
                _order_create_error(["order", "lineItems", str(i), "quantity"], "Quantity must be at least 1")
            )
            continue
        price = Decimal(variant["price"]) if variant else Decimal(str(item["priceSet"]["shopMoney"]["amount"]))
        if item.get("priceSet"):
            price = Decimal(str(item["priceSet"]["shopMoney"]["amount"]))
        subtotal += price * item["quantity"]
        line_num = 12_000_000_000 + store.next_id("line")
        title = variant["_product"]["title"] if variant else item["title"]
        lines.append(
            {
                "__typename": "LineItem",
                "_num": line_num,
                "_fulfillable": item["quantity"],
                "id": gid("LineItem", line_num),
                "title": title,
                "name": variant["displayName"] if variant else title,
                "quantity": item["quantity"],
                "sku": variant["sku"] if variant else item.get("sku"),
                "variant": variant,
                "originalUnitPriceSet": money_bag(price, store.currency),
            }
        )
    if errors:
        return {"order": None, "userErrors": errors}
    num, name = store.order_name()
    stamp = now()
    status = data.get("financialStatus") or "PAID"
    order = {
        "__typename": "Order",
        "_num": num,
        "_created": stamp,
        "_updated": stamp,
        "_lines": lines,
        "_fulfillments": [],
        "id": gid("Order", num),
        "name": name,
        "email": data.get("email"),
        "phone": data.get("phone"),
        "note": data.get("note"),
        "tags": sorted({t.strip() for t in data.get("tags") or [] if t.strip()}),
        "customAttributes": [
            {"__typename": "Attribute", "key": a["key"], "value": a["value"]}
            for a in data.get("customAttributes") or []
        ],
        "sourceName": data.get("sourceName") or "chatshop",
        "sourceIdentifier": data.get("sourceIdentifier"),
        "createdAt": iso(stamp),
        "updatedAt": iso(stamp),
        "processedAt": iso(stamp),
        "cancelledAt": None,
        "closed": False,
        "currencyCode": store.currency,
        "displayFinancialStatus": status,
        "displayFulfillmentStatus": "UNFULFILLED",
        "totalPriceSet": money_bag(subtotal, store.currency),
        "subtotalPriceSet": money_bag(subtotal, store.currency),
        "totalShippingPriceSet": money_bag(Decimal(0), store.currency),
        "totalOutstandingSet": money_bag(subtotal if status == "PENDING" else Decimal(0), store.currency),
        "shippingAddress": mailing_address(data.get("shippingAddress")),
        "statusPageUrl": f"https://{store.shop_domain}/{num}/orders/{num:x}/authenticate",
    }
    order["paymentCollectionDetails"] = {
        "__typename": "OrderPaymentCollectionDetails",
        "additionalPaymentCollectionUrl": store.payment_url(num) if status == "PENDING" else None,
        "vaultedPaymentMethods": None,
    }
    store.add_order(order)
    api.emit("orders/create", order)
    return {"order": order, "userErrors": []}


def order_update(api: ShopApi, args: dict[str, Any]) -> dict[str, Any]:
    """``orderUpdate``: email, note, tags, custom attributes and the shipping address (refused once fulfilled)."""
    data = args["input"]
    order = api.store.order(data["id"])
    if order is None:
        return {"order": None, "userErrors": [_user_error(["id"], "Order does not exist")]}
    if "shippingAddress" in data and order["_fulfillments"]:
        return {
            "order": order,
            "userErrors": [
                _user_error(["shippingAddress"], "Shipping address cannot be changed after the order is fulfilled")
            ],
        }
    if "shippingAddress" in data:
        order["shippingAddress"] = mailing_address(data["shippingAddress"])
    for key in ("email", "note"):
        if key in data:
            order[key] = data[key]
    if "tags" in data:
        order["tags"] = sorted({t.strip() for t in data["tags"] or [] if t.strip()})
    if "customAttributes" in data:
        order["customAttributes"] = [
            {"__typename": "Attribute", "key": a["key"], "value": a["value"]} for a in data["customAttributes"] or []
        ]
    stamp = now()
    order["_updated"], order["updatedAt"] = stamp, iso(stamp)
    api.emit("orders/updated", order)
    return {"order": order, "userErrors": []}


def webhook_create(api: ShopApi, args: dict[str, Any]) -> dict[str, Any]:
    """``webhookSubscriptionCreate``: one subscription per topic and address.

    The address is ``uri`` (2025-10+); the deprecated ``callbackUrl`` is still accepted, as Shopify still serves it.
    The sandbox delivers over HTTP(S) only (no Pub/Sub or EventBridge).
    """
    store = api.store
    sub_input = args["webhookSubscription"]
    key = "uri" if sub_input.get("uri") is not None else "callbackUrl"
    url = sub_input.get(key)
    if not url or not re.match(r"^https?://", url):
        return {
            "webhookSubscription": None,
            "userErrors": [_user_error(["webhookSubscription", key], "Address is invalid")],
        }
    topic = args["topic"]
    if any(s["topic"] == topic and s["_url"] == url for s in store.subscriptions):
        return {
            "webhookSubscription": None,
            "userErrors": [_user_error(["webhookSubscription", key], "Address for this topic has already been taken")],
        }
    num = 1_400_000_000 + store.next_id("webhook")
    stamp = iso(now())
    sub = {
        "__typename": "WebhookSubscription",
        "_num": num,
        "_url": url,
        "id": gid("WebhookSubscription", num),
        "topic": topic,
        "uri": url,
        "callbackUrl": url,
        "format": sub_input.get("format") or "JSON",
        "includeFields": sub_input.get("includeFields") or [],
        "createdAt": stamp,
        "updatedAt": stamp,
        "endpoint": {"__typename": "WebhookHttpEndpoint", "callbackUrl": url},
    }
    store.subscriptions.append(sub)
    return {"webhookSubscription": sub, "userErrors": []}


def webhook_delete(api: ShopApi, args: dict[str, Any]) -> dict[str, Any]:
    before = len(api.store.subscriptions)
    api.store.subscriptions[:] = [s for s in api.store.subscriptions if s["id"] != args["id"]]
    if len(api.store.subscriptions) == before:
        return {
            "deletedWebhookSubscriptionId": None,
            "userErrors": [_user_error(["id"], "Webhook subscription does not exist")],
        }
    return {"deletedWebhookSubscriptionId": args["id"], "userErrors": []}


def topic_enum(topic: str) -> str:
    """``orders/updated`` -> ``ORDERS_UPDATED`` (the GraphQL ``WebhookSubscriptionTopic``)."""
    return topic.upper().replace("/", "_")
