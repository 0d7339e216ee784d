"""The ``/_sandbox/`` control API: what tests and the demo do to the shop, each change sending Shopify's webhooks."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from connector_shopify.sandbox import checkouts, rest
from connector_shopify.sandbox.access import parse_scopes
from connector_shopify.sandbox.api import ShopApi
from connector_shopify.sandbox.store import gid, iso, now
from flask import Blueprint, abort, jsonify, request

#: ``ShopSandbox.set_delivery_status`` names -> Shopify's ``FulfillmentEventStatus``.
DELIVERY_STATUSES = {
    "confirmed": "CONFIRMED",
    "label_printed": "LABEL_PRINTED",
    "in_transit": "IN_TRANSIT",
    "out_for_delivery": "OUT_FOR_DELIVERY",
    "attempted_delivery": "ATTEMPTED_DELIVERY",
    "delayed": "DELAYED",
    "delivered": "DELIVERED",
    "failed": "FAILURE",
    "failure": "FAILURE",
}


class Faults:
    """``fail_next``: the next ``count`` API requests answer ``status``."""

    def __init__(self) -> None:
        self.count = 0
        self.status = 503

    def take(self) -> int | None:
        if self.count <= 0:
            return None
        self.count -= 1
        return self.status


def blueprint(api: ShopApi, faults: Faults) -> Blueprint:
    bp = Blueprint("shopify_sandbox_control", __name__, url_prefix="/_sandbox")
    store = api.store

    def body() -> dict[str, Any]:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            abort(400, "JSON object body required")
        return data

    def variant(data: dict[str, Any]) -> dict[str, Any]:
        found = store.variant_by_canonical(str(data.get("variant_id")))
        if found is None:
            abort(404, f"no variant {data.get('variant_id')!r}")
        return found

    def product(data: dict[str, Any]) -> dict[str, Any]:
        found = store.product(str(data.get("product_id")))
        if found is None:
            abort(404, f"no product {data.get('product_id')!r}")
        return found

    def order(data: dict[str, Any]) -> dict[str, Any]:
        found = store.order(str(data.get("order_id")))
        if found is None:
            abort(404, f"no order {data.get('order_id')!r}")
        return found

    @bp.get("/cost")
    def cost() -> Any:
        """Points charged so far (actual query cost), queries answered and throttled, and the bucket now."""
        with api.meter_lock:
            charged = dict(api.charged)
        return jsonify(**charged, throttle_status=api.bucket.status())

    @bp.get("/variants")
    def variants() -> Any:
        with store.lock:
            return jsonify(ids=store.canonical_variant_ids())

    @bp.post("/stock")
    def stock() -> Any:
        data = body()
        with store.lock:
            v = variant(data)
            store.set_stock(v, int(data["quantity"]))
            api.emit("inventory_levels/update", v)
            api.emit("products/update", v["_product"])
        return jsonify(ok=True)

    @bp.post("/price")
    def price() -> Any:
        data = body()
        sale = data.get("sale_price")
        with store.lock:
            v = variant(data)
            store.set_price(v, Decimal(str(data["price"])), None if sale is None else Decimal(str(sale)))
            api.emit("products/update", v["_product"])
        return jsonify(ok=True)

    @bp.post("/sku")
    def sku() -> Any:
        data = body()
        with store.lock:
            v = variant(data)
            store.set_sku(v, str(data["sku"]))
            api.emit("products/update", v["_product"])
        return jsonify(ok=True)

    @bp.post("/publish")
    def publish() -> Any:
        data = body()
        with store.lock:
            p = product(data)
            store.set_published(p, bool(data["published"]))
            api.emit("products/update", p)
        return jsonify(ok=True)

    @bp.post("/delete")
    def delete() -> Any:
        data = body()
        with store.lock:
            p = product(data)
            store.delete_product(p)
            api.emit("products/delete", p)
        return jsonify(ok=True)

    @bp.post("/ship")
    def ship() -> Any:
        data = body()
        with store.lock:
            o = order(data)
            stamp = now()
            num = 4_800_000_000 + store.next_id("fulfillment")
            fulfillment = {
                "__typename": "Fulfillment",
                "_num": num,
                "_shipment_status": None,
                "_trackingInfo": [
                    {
                        "__typename": "FulfillmentTrackingInfo",
                        "company": data.get("company"),
                        "number": data.get("number"),
                        "url": data.get("url"),
                    }
                ],
                "_events": [],
                "id": gid("Fulfillment", num),
                "name": f"{o['name']}.{len(o['_fulfillments']) + 1}",
                "status": "SUCCESS",
                "displayStatus": "FULFILLED",
                "createdAt": iso(stamp),
                "updatedAt": iso(stamp),
                "deliveredAt": None,
                "inTransitAt": None,
            }
            o["_fulfillments"].append(fulfillment)
            for line in o["_lines"]:
                line["_fulfillable"] = 0
            o["displayFulfillmentStatus"] = "FULFILLED"
            o["_updated"], o["updatedAt"] = stamp, iso(stamp)
            api.emit("fulfillments/create", o, rest.fulfillment_json(o, fulfillment))
            api.emit("orders/updated", o)
        return jsonify(ok=True, fulfillment_id=fulfillment["id"])

    @bp.post("/delivery")
    def delivery() -> Any:
        data = body()
        status = DELIVERY_STATUSES.get(str(data.get("status")))
        if status is None:
            abort(400, f"status must be one of {', '.join(DELIVERY_STATUSES)}")
        with store.lock:
            o = order(data)
            if not o["_fulfillments"]:
                abort(409, "the order has no fulfillment yet: ship it first")
            fulfillment = o["_fulfillments"][-1]
            stamp = now()
            num = 9_100_000_000 + store.next_id("event")
            event = {
                "__typename": "FulfillmentEvent",
                "_num": num,
                "id": gid("FulfillmentEvent", num),
                "status": status,
                "happenedAt": iso(stamp),
                "createdAt": iso(stamp),
                "message": None,
            }
            fulfillment["_events"].append(event)
            fulfillment["displayStatus"] = status
            fulfillment["_shipment_status"] = status.lower()
            fulfillment["updatedAt"] = iso(stamp)
            if status == "DELIVERED":
                fulfillment["deliveredAt"] = iso(stamp)
            o["_updated"], o["updatedAt"] = stamp, iso(stamp)
            api.emit("fulfillment_events/create", o, rest.fulfillment_event_json(o, fulfillment, event))
            api.emit("fulfillments/update", o, rest.fulfillment_json(o, fulfillment))
        return jsonify(ok=True)

    @bp.post("/pay")
    def pay() -> Any:
        with store.lock:
            o = order(body())
            mark_paid(api, o)
        return jsonify(ok=True)

    def checkout(data: dict[str, Any]) -> dict[str, Any]:
        found = store.node(str(data.get("checkout_id")))
        if found is None or found["__typename"] != "AbandonedCheckout":
            abort(404, f"no checkout {data.get('checkout_id')!r}")
        return found

    @bp.post("/checkouts")
    def start_checkout() -> Any:
        """A customer starts a checkout on the storefront: ``lines`` (``variant_id``, ``quantity``), ``phone``,
        ``email``, ``first_name``, ``last_name``, ``country_code``, ``locale``."""
        data = body()
        with store.lock:
            try:
                record = checkouts.start(api, data)
            except checkouts.CheckoutError as exc:
                abort(400, str(exc))
            return jsonify(checkout=rest.checkout_json(record, store.currency), id=record["id"])

    @bp.post("/checkouts/update")
    def update_checkout() -> Any:
        data = body()
        with store.lock:
            record = checkout(data)
            try:
                checkouts.update(api, record, data)
            except checkouts.CheckoutError as exc:
                abort(400, str(exc))
            return jsonify(checkout=rest.checkout_json(record, store.currency))

    @bp.post("/checkouts/complete")
    def complete_checkout() -> Any:
        """The customer pays the checkout: its paid order is created."""
        with store.lock:
            record = checkout(body())
            try:
                order = checkouts.complete(api, record)
            except checkouts.CheckoutError as exc:
                abort(409, str(exc))
            return jsonify(order_id=order.get("id"), checkout=rest.checkout_json(record, store.currency))

    @bp.get("/checkouts")
    def list_checkouts() -> Any:
        with store.lock:
            return jsonify(
                checkouts=[rest.checkout_json(store.checkouts.by_id[n], store.currency) for n in store.checkouts.ids]
            )

    @bp.get("/orders")
    def orders() -> Any:
        with store.lock:
            return jsonify(orders=[rest.order_json(store.orders.by_id[n]) for n in store.orders.ids])

    @bp.post("/faults")
    def set_faults() -> Any:
        data = body()
        with store.lock:
            faults.count, faults.status = int(data.get("count", 1)), int(data.get("status", 503))
        return jsonify(ok=True)

    @bp.post("/throttle")
    def throttle() -> Any:
        """Drain the cost bucket by ``points`` (throttling tests)."""
        api.bucket.drain(float(body().get("points", api.bucket.maximum)))
        return jsonify(api.bucket.status())

    @bp.get("/access_scopes")
    def access_scopes() -> Any:
        with store.lock:
            return jsonify(access_scopes=list(api.access_scopes))

    @bp.post("/access_scopes")
    def set_access_scopes() -> Any:
        """Replace the scopes granted to the token (``{"scopes": [...]}`` or a comma-separated string)."""
        try:
            granted = parse_scopes(body().get("scopes"))
        except ValueError as exc:
            abort(400, str(exc))
        with store.lock:
            api.access_scopes = granted
        return jsonify(access_scopes=granted)

    @bp.post("/webhooks")
    def subscribe() -> Any:
        url = str(body().get("url") or "")
        if not url.startswith(("http://", "https://")):
            abort(400, "url must be an http(s) URL")
        with store.lock:
            if url not in api.subscribed_urls:
                api.subscribed_urls.append(url)
        return jsonify(ok=True)

    @bp.post("/uninstall")
    def uninstall() -> Any:
        with store.lock:
            api.emit("app/uninstalled", store.shop)
        api.oauth.revoke_all()  # uninstalling revokes the app's tokens at once
        return jsonify(ok=True)

    @bp.get("/webhooks/deliveries")
    def deliveries() -> Any:
        api.sender.wait_idle(10)
        return jsonify(
            deliveries=[
                {"url": d.url, "topic": d.headers.get("X-Shopify-Topic"), "attempts": d.attempts}
                for d in api.sender.deliveries
            ]
        )

    return bp


def mark_paid(api: ShopApi, order: dict[str, Any]) -> None:
    """The customer paid through the payment link: the order becomes paid and ``orders/paid`` fires."""
    if order["displayFinancialStatus"] == "PAID":
        return
    stamp = now()
    order["displayFinancialStatus"] = "PAID"
    order["totalOutstandingSet"] = {
        k: {**v, "amount": "0.00"} for k, v in order["totalOutstandingSet"].items() if isinstance(v, dict)
    }
    order["paymentCollectionDetails"]["additionalPaymentCollectionUrl"] = None
    order["_updated"], order["updatedAt"] = stamp, iso(stamp)
    api.emit("orders/paid", order)
    api.emit("orders/updated", order)
