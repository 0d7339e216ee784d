"""The WooCommerce sandbox's state: products, variations, orders, webhooks, behind one lock.

Every change goes through a method here, which bumps ``date_modified`` and queues the signed webhooks
WooCommerce would send. Errors are raised as :class:`ApiError` with WooCommerce's code and message.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from connector.sandbox.images import ProductImages
from connector.sandbox.seed import SeedProduct
from connector.sandbox.webhooks import Delivery, WebhookSender

from ..webhooks import sign
from .records import Post, now, product_json, variation_as_product_json, variation_json, wc_money, wp_date

TOPICS = tuple(
    f"{resource}.{event}"
    for resource in ("coupon", "customer", "order", "product")
    for event in ("created", "updated", "deleted", "restored")
)
#: The WordPress actions each core topic listens to (``WC_Webhook::get_topic_hooks``); a webhook's ``hooks`` field.
TOPIC_HOOKS: dict[str, tuple[str, ...]] = {
    "coupon.created": ("woocommerce_process_shop_coupon_meta", "woocommerce_new_coupon"),
    "coupon.updated": ("woocommerce_process_shop_coupon_meta", "woocommerce_update_coupon"),
    "coupon.deleted": ("wp_trash_post",),
    "coupon.restored": ("untrashed_post",),
    "customer.created": ("user_register", "woocommerce_created_customer", "woocommerce_new_customer"),
    "customer.updated": ("profile_update", "woocommerce_update_customer"),
    "customer.deleted": ("delete_user",),
    "order.created": ("woocommerce_new_order",),
    "order.updated": ("woocommerce_update_order", "woocommerce_order_refunded"),
    "order.deleted": ("wp_trash_post",),
    "order.restored": ("untrashed_post",),
    "product.created": (
        "woocommerce_process_product_meta",
        "woocommerce_new_product",
        "woocommerce_new_product_variation",
    ),
    "product.updated": (
        "woocommerce_process_product_meta",
        "woocommerce_update_product",
        "woocommerce_update_product_variation",
    ),
    "product.deleted": ("wp_trash_post",),
    "product.restored": ("untrashed_post",),
}
TRACKING_KEY = "_wc_shipment_tracking_items"
SHIPMENT_STATUS_KEY = "shipment_status"
#: Shipment Tracking's predefined providers (a few of them) and their link formats.
PROVIDERS = {
    "DHL": "https://www.dhl.com/en/express/tracking.html?AWB=%1$s&brand=DHL",
    "UPS": "https://www.ups.com/track?loc=en_US&tracknum=%1$s",
    "FedEx": "https://www.fedex.com/apps/fedextrack/?action=track&tracknumbers=%1$s",
    "USPS": "https://tools.usps.com/go/TrackConfirmAction_input?qtc_tLabels1=%1$s",
    "DPD.de": "https://tracking.dpd.de/parcelstatus?query=%1$s",
}
#: The control API's delivery states -> TrackShip's shipment statuses.
TRACKSHIP_STATUS = {
    "in_transit": "in_transit",
    "out_for_delivery": "out_for_delivery",
    "delivered": "delivered",
    "failed": "failure",
    "delayed": "on_hold",
}
#: ``woocommerce_max_webhook_delivery_failures``.
MAX_DELIVERY_FAILURES = 5
ORDER_STATUSES = ("pending", "processing", "on-hold", "completed", "cancelled", "refunded", "failed", "trash")
_ADDRESS_FIELDS = (
    "first_name",
    "last_name",
    "company",
    "address_1",
    "address_2",
    "city",
    "state",
    "postcode",
    "country",
)


class ApiError(Exception):
    """A WordPress REST error: ``{"code", "message", "data": {"status", ...}}``."""

    def __init__(self, status: int, code: str, message: str, **data: Any):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.data = data

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "data": {"status": self.status, **self.data}}


def invalid_param(name: str, reason: str) -> ApiError:
    return ApiError(400, "rest_invalid_param", f"Invalid parameter(s): {name}", params={name: reason})


def _decimal(value: Any, name: str) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise invalid_param(name, f"{name} is not a number.") from None


@dataclass(slots=True)
class Webhook:
    id: int
    name: str
    topic: str
    delivery_url: str
    secret: str
    status: str
    created: datetime
    modified: datetime
    failure_count: int = 0

    def json(self, base_url: str) -> dict[str, Any]:
        resource, _, event = self.topic.partition(".")
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "topic": self.topic,
            "resource": resource,
            "event": event,
            # ``action.<hook>`` topics listen to the named action itself
            "hooks": list(TOPIC_HOOKS.get(self.topic, (event,) if resource == "action" else ())),
            "delivery_url": self.delivery_url,
            "date_created": wp_date(self.created),
            "date_created_gmt": wp_date(self.created),
            "date_modified": wp_date(self.modified),
            "date_modified_gmt": wp_date(self.modified),
            "_links": {"self": [{"href": f"{base_url}/wp-json/wc/v3/webhooks/{self.id}"}]},
        }


class Store:
    """All sandbox state. Every public method takes the lock; JSON is built while holding it."""

    def __init__(self, products: Iterable[SeedProduct], *, currency: str, webhook_secret: str):
        self.lock = threading.RLock()
        self.base_url = "http://127.0.0.1"
        self.currency = currency
        self.default_secret = webhook_secret
        self.posts: dict[int, Post] = {}
        self.product_ids: list[int] = []  # top-level products, ascending id (== creation order)
        self.orders: dict[int, dict[str, Any]] = {}
        self.webhooks: dict[int, Webhook] = {}
        self.images = ProductImages()  # the media library's uploads, served under /wp-content/uploads/
        self.sender = _Sender(self)
        self._salt = secrets.token_bytes(16)  # WordPress's auth salt, keying wp_hash()
        self._next_id = 10
        self._json_cache: dict[int, dict[str, Any]] = {}
        self._variant_ids: list[str] | None = None
        self._variation_index: list[int] | None = None  # every variation id, ascending (``GET /variations``)
        # Order id -> the lowercased text ``?search=`` matches, kept until the order changes: every chat order is
        # preceded by a search for its reference, which would otherwise rebuild this text for every order.
        self._search_text: dict[int, str] = {}
        # A seeded shop existed before the connector came (as in the other sandboxes): had its products been
        # made "now", the first incremental sync would read them all again (its cursor overlaps 2 minutes).
        created = now() - timedelta(days=2)
        for seed in products:
            self._add_seed(seed, created)

    # ----------------------------------------------------------------- ids and seeding

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _add_seed(self, seed: SeedProduct, created: datetime) -> None:
        variable = len(seed.variants) > 1 or bool(seed.variants and seed.variants[0].options)
        product = Post(
            id=self._new_id(),
            type="variable" if variable else "simple",
            name=seed.title,
            slug=seed.handle,
            created=created,
            modified=created,
            status="publish" if seed.published else "draft",
            description=seed.description,
            image=self.images.add(f"/wp-content/uploads/{created:%Y/%m}/{seed.image_file}"),
            categories=[(zlib.crc32(seed.collection.encode()) % 90 + 10, seed.collection)],
            brand=seed.brand,
        )
        self.posts[product.id] = product
        self.product_ids.append(product.id)
        if not variable:
            v = seed.variants[0]
            product.sku, product.regular_price, product.sale_price = v.sku, v.price, v.sale_price
            product.manage_stock, product.stock_quantity = True, v.stock
            product.stock_status = "instock" if v.stock > 0 else "outofstock"
            return
        options: dict[str, list[str]] = {}
        for v in seed.variants:
            for name, value in v.options.items():
                if value not in options.setdefault(name, []):
                    options[name].append(value)
        product.attributes = [{"name": name, "options": values} for name, values in options.items()]
        for v in seed.variants:
            variation = Post(
                id=self._new_id(),
                type="variation",
                name=seed.title,
                slug=f"{seed.handle}-{v.key}",
                created=created,
                modified=created,
                parent_id=product.id,
                sku=v.sku,
                regular_price=v.price,
                sale_price=v.sale_price,
                manage_stock=True,
                stock_quantity=v.stock,
                stock_status="instock" if v.stock > 0 else "outofstock",
                attributes=[{"name": name, "option": value} for name, value in v.options.items()],
            )
            self.posts[variation.id] = variation
            product.variations.append(variation.id)

    # ----------------------------------------------------------------- reading products

    def post(self, post_id: int) -> Post:
        post = self.posts.get(post_id)
        if post is None:
            raise ApiError(404, "woocommerce_rest_product_invalid_id", "Invalid ID.")
        return post

    def product(self, product_id: int) -> Post:
        post = self.post(product_id)
        if post.type == "variation":
            raise ApiError(404, "woocommerce_rest_product_invalid_id", "Invalid ID.")
        return post

    def product_payload(self, post_id: int) -> dict[str, Any]:
        """The products endpoint's JSON for any post (variations in the product shape); cached until changed."""
        cached = self._json_cache.get(post_id)
        if cached is not None:
            return cached
        post = self.post(post_id)
        if post.type == "variation":
            body = variation_as_product_json(self.base_url, self.posts[post.parent_id], post)
        else:
            body = product_json(self.base_url, post, [self.posts[v] for v in post.variations])
        self._json_cache[post_id] = body
        return body

    def variation_payload(self, parent: Post, variation_id: int) -> dict[str, Any]:
        variation = self.posts.get(variation_id)
        if variation is None or variation.parent_id != parent.id:
            raise ApiError(404, "woocommerce_rest_product_variation_invalid_id", "Invalid ID.")
        return variation_json(self.base_url, parent, variation)

    def variant_ids(self) -> list[str]:
        with self.lock:
            if self._variant_ids is None:
                ids: list[str] = []
                for pid in self.product_ids:
                    post = self.posts[pid]
                    ids.extend(str(v) for v in post.variations) if post.type == "variable" else ids.append(str(pid))
                self._variant_ids = ids
            return list(self._variant_ids)

    def variation_ids(self, parents: Sequence[int] | None = None) -> list[int]:
        """Variation ids, ascending: of the ``parents`` given (looked up, as WordPress's ``post_parent`` index
        does), or of the whole shop. Call with the lock held."""
        if parents is not None:
            found: set[int] = set()
            for pid in parents:
                post = self.posts.get(pid)
                if post is not None and post.type == "variable":
                    found.update(post.variations)
            return sorted(found)
        if self._variation_index is None:
            self._variation_index = sorted(i for i, p in self.posts.items() if p.type == "variation")
        return self._variation_index

    def variation_listing_payload(self, variation_id: int) -> dict[str, Any]:
        """``GET /variations`` (WooCommerce 10.3+): a variation as under its product, plus its ``parent_id``."""
        post = self.posts[variation_id]
        return {**variation_json(self.base_url, self.posts[post.parent_id], post), "parent_id": post.parent_id}

    # ----------------------------------------------------------------- changing products

    def _touch(self, post: Post) -> None:
        post.modified = now()
        self._json_cache.pop(post.id, None)
        if post.parent_id:
            # Saving a variation re-syncs (and so re-saves) its parent product.
            parent = self.posts[post.parent_id]
            parent.modified = post.modified
            self._json_cache.pop(parent.id, None)

    def set_stock(self, variant_id: int, quantity: int) -> None:
        with self.lock:
            post = self._variant(variant_id)
            post.manage_stock, post.stock_quantity = True, quantity
            post.stock_status = "instock" if quantity > 0 else "outofstock"
            self._product_changed(post)

    def set_price(self, variant_id: int, price: Decimal, sale_price: Decimal | None) -> None:
        with self.lock:
            post = self._variant(variant_id)
            post.regular_price, post.sale_price = price, sale_price
            self._product_changed(post)

    def set_sku(self, variant_id: int, sku: str) -> None:
        with self.lock:
            post = self._variant(variant_id)
            post.sku = sku
            self._product_changed(post)

    def set_published(self, product_id: int, published: bool) -> None:
        with self.lock:
            post = self.product(product_id)
            post.status = "publish" if published else "draft"
            self._product_changed(post)

    def edit_product(self, product_id: int, changes: Mapping[str, Any]) -> None:
        """Change a product's ``name`` or ``image`` (``None`` removes the image), as an admin edit would."""
        with self.lock:
            post = self.product(product_id)
            for key in ("name", "image"):
                if key in changes:
                    setattr(post, key, changes[key])
            self._product_changed(post)

    def move_variation(self, variation_id: int, product_id: int) -> None:
        """Re-parent a variation under another variable product (what a product merge does to ``post_parent``)."""
        with self.lock:
            post = self._variant(variation_id)
            target = self.product(product_id)
            if not post.parent_id or target.type != "variable":
                raise ApiError(400, "sandbox_not_movable", "only a variation can move, and only to a variable product")
            old = self.posts[post.parent_id]
            old.variations.remove(variation_id)
            target.variations.append(variation_id)
            post.parent_id = product_id
            self._variant_ids = self._variation_index = None
            self._json_cache.pop(old.id, None)
            self._touch(old)
            self._product_changed(post)

    def delete_product(self, product_id: int) -> None:
        with self.lock:
            post = self.product(product_id)
            for vid in post.variations:
                self.posts.pop(vid, None)
                self._json_cache.pop(vid, None)
            del self.posts[product_id]
            self._json_cache.pop(product_id, None)
            self.product_ids.remove(product_id)
            self._variant_ids = self._variation_index = None
            self._emit("product.deleted", {"id": product_id})

    def _variant(self, variant_id: int) -> Post:
        post = self.post(variant_id)
        if post.type == "variable":
            raise ApiError(400, "sandbox_not_a_variant", f"{variant_id} is a variable product, not a variant")
        return post

    def _product_changed(self, post: Post) -> None:
        self._touch(post)
        # Variations go out as product.updated with the variation in the product shape, like WooCommerce does.
        self._emit("product.updated", self.product_payload(post.id))

    # ----------------------------------------------------------------- orders

    def search_text(self, order: Mapping[str, Any]) -> str:
        """What WooCommerce's order search looks in (ids, addresses, item names), lowercased. Call with the lock."""
        text = self._search_text.get(order["id"])
        if text is None:
            parts = [str(order["id"]), str(order["number"])]
            parts += [str(v) for v in order["billing"].values()] + [str(v) for v in order["shipping"].values()]
            parts += [str(item["name"]) for item in order["line_items"]]
            text = self._search_text[order["id"]] = " ".join(parts).lower()
        return text

    def order(self, order_id: int) -> dict[str, Any]:
        order = self.orders.get(order_id)
        if order is None:
            raise ApiError(404, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.")
        return order

    def _line_item(self, item: Mapping[str, Any]) -> dict[str, Any]:
        try:
            product_id = int(item.get("product_id") or 0)
            variation_id = int(item.get("variation_id") or 0)
            quantity = int(item.get("quantity") or 1)
        except (TypeError, ValueError):
            raise invalid_param("line_items", "line_items[0][product_id] is not of type integer.") from None
        post = self.posts.get(variation_id or product_id)
        if post is None or (variation_id and post.parent_id != product_id and post.id != product_id):
            raise ApiError(400, "woocommerce_rest_invalid_product_id", "Product ID provided is invalid.")
        if post.type == "variation" and not variation_id:
            variation_id, product_id = post.id, post.parent_id
        if post.type == "variable":
            raise ApiError(
                400, "woocommerce_rest_invalid_variation_id", "Variation ID is required for variable products."
            )
        if quantity < 1:
            raise invalid_param("line_items", "Quantity must be a positive number.")
        price = post.price or Decimal(0)
        total = price * quantity
        name = self.product_payload(post.id)["name"]
        return {
            "id": self._new_id(),
            "name": name,
            "product_id": product_id,
            "variation_id": variation_id,
            "quantity": quantity,
            "tax_class": "",
            "subtotal": wc_money(total),
            "subtotal_tax": "0.00",
            "total": wc_money(total),
            "total_tax": "0.00",
            "taxes": [],
            "meta_data": [],
            "sku": post.sku,
            "price": float(price),
            "image": {"id": "", "src": post.image or self.posts[post.parent_id or post.id].image or ""},
            "parent_name": self.posts[product_id].name if variation_id else None,
        }

    def _meta(self, items: Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
        return [
            {"id": self._new_id(), "key": str(m["key"]), "value": m.get("value")} for m in items or () if m.get("key")
        ]

    def create_order(self, body: Mapping[str, Any]) -> dict[str, Any]:
        with self.lock:
            status = str(body.get("status") or "pending")
            if status not in ORDER_STATUSES:
                raise invalid_param("status", f"status is not one of {', '.join(ORDER_STATUSES)}.")
            if body.get("set_paid"):
                status = "processing"
            lines = [self._line_item(item) for item in body.get("line_items") or ()]
            shipping_total = sum(
                (_decimal(s.get("total") or 0, "shipping_lines") for s in body.get("shipping_lines") or ()), Decimal(0)
            )
            total = sum((Decimal(line["total"]) for line in lines), Decimal(0)) + shipping_total
            order_id = self._new_id()
            key = "wc_order_" + secrets.token_urlsafe(10).replace("-", "x").replace("_", "y")[:13]
            created = now()
            billing = {f: "" for f in (*_ADDRESS_FIELDS, "email", "phone")}
            billing.update({k: str(v) for k, v in (body.get("billing") or {}).items() if k in billing})
            shipping = {f: "" for f in (*_ADDRESS_FIELDS, "phone")}
            shipping.update({k: str(v) for k, v in (body.get("shipping") or {}).items() if k in shipping})
            order = {
                "id": order_id,
                "parent_id": 0,
                "status": status,
                "currency": str(body.get("currency") or self.currency),
                "version": "9.4.2",
                "prices_include_tax": False,
                "date_created": wp_date(created),
                "date_created_gmt": wp_date(created),
                "date_modified": wp_date(created),
                "date_modified_gmt": wp_date(created),
                "discount_total": "0.00",
                "discount_tax": "0.00",
                "shipping_total": wc_money(shipping_total),
                "shipping_tax": "0.00",
                "cart_tax": "0.00",
                "total": wc_money(total),
                "total_tax": "0.00",
                "customer_id": int(body.get("customer_id") or 0),
                "order_key": key,
                "billing": billing,
                "shipping": shipping,
                "payment_method": str(body.get("payment_method") or ""),
                "payment_method_title": str(body.get("payment_method_title") or ""),
                "transaction_id": "",
                "customer_ip_address": "",
                "customer_user_agent": "",
                "created_via": "rest-api",
                "customer_note": str(body.get("customer_note") or ""),
                "date_completed": None,
                "date_paid": wp_date(created) if body.get("set_paid") else None,
                "cart_hash": "",
                "number": str(order_id),
                "meta_data": self._meta(body.get("meta_data")),
                "line_items": lines,
                "tax_lines": [],
                "shipping_lines": [
                    {
                        "id": self._new_id(),
                        "method_title": s.get("method_title", ""),
                        "method_id": s.get("method_id", ""),
                        "total": wc_money(_decimal(s.get("total") or 0, "shipping_lines")),
                        "total_tax": "0.00",
                    }
                    for s in body.get("shipping_lines") or ()
                ],
                "fee_lines": [],
                "coupon_lines": [],
                "refunds": [],
                "payment_url": f"{self.base_url}/checkout/order-pay/{order_id}/?pay_for_order=true&key={key}",
                "is_editable": status in ("pending", "on-hold", "auto-draft"),
                "needs_payment": status in ("pending", "failed"),
                "needs_processing": True,
                "_links": {
                    "self": [{"href": f"{self.base_url}/wp-json/wc/v3/orders/{order_id}"}],
                    "collection": [{"href": f"{self.base_url}/wp-json/wc/v3/orders"}],
                },
            }
            self.orders[order_id] = order
            self._emit("order.created", order)
            return order

    def update_order(self, order_id: int, body: Mapping[str, Any]) -> dict[str, Any]:
        with self.lock:
            order = self.order(order_id)
            self._search_text.pop(order_id, None)
            if "status" in body:
                if body["status"] not in ORDER_STATUSES:
                    raise invalid_param("status", f"status is not one of {', '.join(ORDER_STATUSES)}.")
                order["status"] = body["status"]
            for part in ("billing", "shipping"):
                for key, value in (body.get(part) or {}).items():
                    if key in order[part]:
                        order[part][key] = str(value)
            if "customer_note" in body:
                order["customer_note"] = str(body["customer_note"])
            for meta in body.get("meta_data") or ():
                self._set_meta(order, str(meta.get("key")), meta.get("value"))
            return self._order_changed(order)

    def trash_order(self, order_id: int) -> dict[str, Any]:
        """``DELETE`` without ``force``: the order moves to the trash (and leaves ``status=any`` lists)."""
        with self.lock:
            order = self.order(order_id)
            if order["status"] == "trash":
                raise ApiError(410, "woocommerce_rest_already_trashed", "The order has already been deleted.")
            order["status"] = "trash"
            order["date_modified"] = order["date_modified_gmt"] = wp_date(now())
            self._emit("order.deleted", {"id": order_id})
            return order

    def delete_order(self, order_id: int) -> dict[str, Any]:
        """``DELETE ?force=true``: the order is gone for good (a later ``GET`` answers 404). WooCommerce sends
        ``order.deleted`` with just ``{"id": N}`` unless the order was trashed (and announced) before."""
        with self.lock:
            order = self.order(order_id)
            del self.orders[order_id]
            self._search_text.pop(order_id, None)
            if order["status"] != "trash":
                self._emit("order.deleted", {"id": order_id})
            return order

    def _set_meta(self, order: dict[str, Any], key: str, value: Any) -> None:
        for item in order["meta_data"]:
            if item["key"] == key:
                item["value"] = value
                return
        order["meta_data"].append({"id": self._new_id(), "key": key, "value": value})

    def _get_meta(self, order: Mapping[str, Any], key: str) -> Any:
        return next((m["value"] for m in order["meta_data"] if m["key"] == key), None)

    def _order_changed(self, order: dict[str, Any]) -> dict[str, Any]:
        modified = wp_date(now())
        order["date_modified"] = order["date_modified_gmt"] = modified
        order["is_editable"] = order["status"] in ("pending", "on-hold", "auto-draft")
        order["needs_payment"] = order["status"] in ("pending", "failed")
        if order["status"] == "completed" and not order["date_completed"]:
            order["date_completed"] = modified
        self._emit("order.updated", order)
        return order

    # ----------------------------------------------------------------- shipment tracking

    def tracking_items(self, order_id: int) -> list[dict[str, Any]]:
        """The Shipment Tracking extension's REST view of an order's items."""
        with self.lock:
            items = self._get_meta(self.order(order_id), TRACKING_KEY) or []
            return [self._tracking_view(item) for item in items]

    @staticmethod
    def _tracking_view(item: Mapping[str, Any]) -> dict[str, Any]:
        link = item.get("custom_tracking_link") or PROVIDERS.get(item.get("tracking_provider") or "", "")
        return {
            "tracking_id": item["tracking_id"],
            "tracking_provider": item.get("custom_tracking_provider") or item.get("tracking_provider") or "",
            "tracking_link": link.replace("%1$s", item["tracking_number"]),
            "tracking_number": item["tracking_number"],
            "date_shipped": time.strftime("%Y-%m-%d", time.gmtime(int(item["date_shipped"]))),
        }

    def add_tracking(
        self, order_id: int, number: str, provider: str = "", custom_provider: str = "", custom_link: str = ""
    ) -> dict[str, Any]:
        with self.lock:
            order = self.order(order_id)
            known = {name.lower(): name for name in PROVIDERS}
            if provider and provider.lower() not in known:
                custom_provider, provider = custom_provider or provider, ""
            item = {
                "tracking_provider": known.get(provider.lower(), "") if provider else "",
                "custom_tracking_provider": custom_provider,
                "custom_tracking_link": custom_link,
                "tracking_number": number,
                "date_shipped": str(int(time.time()) // 86400 * 86400),
                "tracking_id": hashlib.md5(f"{number}{time.time_ns()}".encode()).hexdigest(),
            }
            items = [*(self._get_meta(order, TRACKING_KEY) or []), item]
            self._set_meta(order, TRACKING_KEY, items)
            self._order_changed(order)
            return self._tracking_view(item)

    def ship(self, order_id: int, company: str, number: str, url: str | None) -> None:
        """The shop owner adds a tracking number and marks the order completed."""
        with self.lock:
            if url:
                self.add_tracking(order_id, number, custom_provider=company, custom_link=url)
            else:
                self.add_tracking(order_id, number, provider=company)
            self.update_order(order_id, {"status": "completed"})

    def set_delivery(self, order_id: int, status: str) -> None:
        """TrackShip records the carrier's status per tracking item in the ``shipment_status`` meta."""
        if status not in TRACKSHIP_STATUS:
            raise ApiError(400, "sandbox_invalid_status", f"unknown delivery status {status!r}")
        with self.lock:
            order = self.order(order_id)
            items = self._get_meta(order, TRACKING_KEY) or []
            if not items:
                raise ApiError(400, "sandbox_not_shipped", f"order {order_id} has no tracking number yet")
            entry = {"status": TRACKSHIP_STATUS[status], "status_date": wp_date(now()), "tracking_events": []}
            self._set_meta(order, SHIPMENT_STATUS_KEY, [dict(entry) for _ in items])
            self._order_changed(order)

    # ----------------------------------------------------------------- webhooks

    def create_webhook(self, body: Mapping[str, Any]) -> tuple[Webhook, Callable[[], None]]:
        """Create a webhook; returns it and the ping to send (outside the lock) when it is active."""
        topic = str(body.get("topic") or "")
        if topic not in TOPICS and not topic.startswith("action."):
            raise invalid_param(
                "topic", "Webhook topic is invalid."
            )  # WooCommerce: woocommerce_rest_webhook_invalid_topic
        url = str(body.get("delivery_url") or "")
        if not url.startswith(("http://", "https://")):
            raise invalid_param("delivery_url", "delivery_url is not a valid URL.")
        status = str(body.get("status") or "active")
        if status not in ("active", "paused", "disabled"):
            raise invalid_param("status", "status is not one of active, paused, and disabled.")
        with self.lock:
            created = now()
            hook = Webhook(
                id=self._new_id(),
                name=str(body.get("name") or f"Webhook created on {created:%b %d, %Y @ %I:%M %p}"),
                topic=topic,
                delivery_url=url,
                secret=str(body.get("secret") or self.default_secret),
                status=status,
                created=created,
                modified=created,
            )
            self.webhooks[hook.id] = hook

        def ping() -> None:
            if hook.status == "active":
                self.sender.deliver_now(
                    hook.delivery_url, f"webhook_id={hook.id}".encode(), {"User-Agent": _USER_AGENT}
                )

        return hook, ping

    def webhook(self, webhook_id: int) -> Webhook:
        hook = self.webhooks.get(webhook_id)
        if hook is None:
            raise ApiError(404, "woocommerce_rest_webhook_invalid_id", "Invalid ID.")
        return hook

    def update_webhook(self, webhook_id: int, body: Mapping[str, Any]) -> Webhook:
        with self.lock:
            hook = self.webhook(webhook_id)
            if "status" in body:
                if body["status"] not in ("active", "paused", "disabled"):
                    raise invalid_param("status", "status is not one of active, paused, and disabled.")
                hook.status = str(body["status"])
            for attr in ("name", "secret", "delivery_url"):
                if body.get(attr):
                    setattr(hook, attr, str(body[attr]))
            if body.get("topic"):
                if body["topic"] not in TOPICS:
                    raise invalid_param("topic", "Webhook topic is invalid.")
                hook.topic = str(body["topic"])
            hook.modified = now()
            return hook

    def record_delivery(self, webhook_id: int, status: int) -> None:
        """Count consecutive failures; WooCommerce disables a webhook once more than five failed in a row."""
        with self.lock:
            hook = self.webhooks.get(webhook_id)
            if hook is None:
                return
            if 200 <= status < 303:
                hook.failure_count = 0
            elif hook.failure_count > MAX_DELIVERY_FAILURES:
                hook.status = "disabled"
            else:
                hook.failure_count += 1

    def _emit(self, topic: str, payload: Mapping[str, Any]) -> None:
        """Queue one signed delivery per active webhook on ``topic``, as WooCommerce builds them."""
        hooks = [h for h in self.webhooks.values() if h.topic == topic and h.status == "active"]
        if not hooks:
            return
        # wp_json_encode: compact, with slashes escaped.
        body = json.dumps(payload, separators=(",", ":")).replace("/", "\\/").encode()
        resource, _, event = topic.partition(".")
        for hook in hooks:
            # wp_hash( id . strtotime('now') ): deliveries of one webhook within a second share an id.
            delivery_id = hmac.new(self._salt, f"{hook.id}{int(time.time())}".encode(), hashlib.md5).hexdigest()
            headers = {
                "Content-Type": "application/json",
                "User-Agent": _USER_AGENT,
                "X-WC-Webhook-Source": f"{self.base_url}/",
                "X-WC-Webhook-Topic": topic,
                "X-WC-Webhook-Resource": resource,
                "X-WC-Webhook-Event": event,
                "X-WC-Webhook-Signature": sign(hook.secret, body),
                "X-WC-Webhook-ID": str(hook.id),
                "X-WC-Webhook-Delivery-ID": delivery_id,
            }
            self.sender.send(hook.delivery_url, body, headers)


_USER_AGENT = "WooCommerce/9.4.2 Hookshot (WordPress/6.7.1)"


class _Sender(WebhookSender):
    """Delivers once, never re-sends (WooCommerce has no retry), and reports each answer to the store."""

    def __init__(self, store: Store):
        super().__init__(max_attempts=1)
        self.store = store

    def _attempt(self, delivery: Delivery) -> None:
        super()._attempt(delivery)
        webhook_id = delivery.headers.get("X-WC-Webhook-ID")
        if webhook_id:  # pings carry no headers and count for nothing
            self.store.record_delivery(int(webhook_id), delivery.attempts[-1])
