"""The sandbox shop's state: products, orders, customers, webhooks. One lock guards all of it.

Records follow Shopware's data model (UUID hex ids, variants as child products with ``parentId``,
orders with deliveries, transactions and order addresses). Every change bumps ``updatedAt`` and
queues the app webhooks subscribed to the event, signed with the app's shop secret.

Product searches are answered from indexes (:mod:`~connector_shopware.sandbox.index`) and a cache of each
product's JSON, so products must only change through the store's methods (which call :meth:`ShopStore._written`
or :meth:`ShopStore._changed`), never by assigning to a record behind the store's back.
"""

from __future__ import annotations

import bisect
import hashlib
import hmac
import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from connector_shopware.sandbox.entities import product_json
from connector_shopware.sandbox.index import ProductIndex

from connector.sandbox.images import ProductImages, absolute
from connector.sandbox.seed import SeedProduct
from connector.sandbox.webhooks import WebhookSender

_NS = uuid.UUID("5b0e2d0a-7d1c-4f4e-9d53-6a9f3f0c2b11")
#: Shopware's built-in ids (``Shopware\Core\Defaults``).
DEFAULT_CURRENCY_ID = "b7d2554b0ce847cd82f3ac9bd1c0dfca"
LIVE_VERSION = "0fa91ce3e96a4bc2be4bd9ce752c3425"
SHOPWARE_VERSION = "6.6.10.0"
COUNTRIES = ("DE", "AT", "CH", "NL", "BE", "FR", "IT", "ES", "PL", "DK", "SE", "GB", "IE", "US", "CA", "AU")
TAX_RATE = Decimal("19")


def sw_id(*parts: object) -> str:
    """A deterministic Shopware-style id (32 lowercase hex characters)."""
    return uuid.uuid5(_NS, "-".join(str(p) for p in parts)).hex


def new_id() -> str:
    return uuid.uuid4().hex


def now() -> datetime:
    return datetime.now(UTC)


def money(value: Decimal) -> float:
    return float(value.quantize(Decimal("0.01")))


def price_entry(gross: Decimal, list_gross: Decimal | None) -> list[dict[str, Any]]:
    """Shopware's ``price`` field: one entry per currency, net computed from the standard tax rate."""
    net = gross / (1 + TAX_RATE / 100)
    entry: dict[str, Any] = {
        "currencyId": DEFAULT_CURRENCY_ID,
        "gross": money(gross),
        "net": money(net),
        "linked": True,
        "listPrice": None,
        "percentage": None,
    }
    if list_gross is not None:
        entry["listPrice"] = {
            "currencyId": DEFAULT_CURRENCY_ID,
            "gross": money(list_gross),
            "net": money(list_gross / (1 + TAX_RATE / 100)),
            "linked": True,
        }
        entry["percentage"] = {
            "gross": round(float((list_gross - gross) / list_gross * 100), 2),
            "net": round(float((list_gross - gross) / list_gross * 100), 2),
        }
    return [entry]


class StoreError(Exception):
    """A request the shop refuses; rendered as Shopware's ``{"errors": [...]}`` body."""

    def __init__(self, status: int, code: str, detail: str, title: str | None = None):
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.title = title


class ShopStore:
    """All state of one sandbox shop. Public methods take the lock; ``_``-methods expect it held."""

    def __init__(self, products: Iterable[SeedProduct], *, base_url: Callable[[], str], options: dict[str, Any]):
        self.lock = threading.RLock()
        self.options = options
        self._base_url = base_url
        self.sender = WebhookSender()
        # Credentials: one integration (Admin API) and one sales channel (Store API).
        self.client_id = options.get("client_id", "SWIACHATSHOPSANDBOX0000000001")
        self.client_secret = options.get("client_secret", "sandbox-integration-secret-" + "x" * 20)
        self.access_key = options.get("access_key", "SWSCCHATSHOPSANDBOX000000001")
        self.app = {
            "id": sw_id("app"),
            "name": options.get("app_name", "ChatshopConnector"),
            "active": True,
            "version": "1.0.0",
        }
        self.shop_secret = options.get("shop_secret", "sandbox-shop-secret-" + "y" * 20)
        self.shop_id = "sbx" + sw_id("shop")[:9]
        self.sales_channel_id = sw_id("sales-channel")
        self.tokens: dict[str, float] = {}  # access token -> expiry (monotonic)
        # Catalog.
        self.products: dict[str, dict[str, Any]] = {}
        self.sorted_ids: list[str] = []
        self._sorted_cache: list[dict[str, Any]] | None = None
        self.children: dict[str, list[str]] = {}
        self.index = ProductIndex(self.products, self.children, self.sorted_ids)
        #: product id -> {(inherit, associations as JSON): the product's JSON text}
        self._json_cache: dict[str, dict[tuple[bool, str], str]] = {}
        self.media: dict[str, dict[str, Any]] = {}
        self.images = ProductImages()  # the media files, served under /media/ as Shopware's public filesystem does
        self.groups: dict[str, dict[str, Any]] = {}
        self.options_: dict[str, dict[str, Any]] = {}
        self.manufacturers: dict[str, dict[str, Any]] = {}
        self.categories: dict[str, dict[str, Any]] = {}
        self.seo_urls: dict[str, list[dict[str, Any]]] = {}
        self.countries = {
            sw_id("country", c): {"id": sw_id("country", c), "iso": c, "name": c, "active": True} for c in COUNTRIES
        }
        # Orders and customers.
        self.orders: dict[str, dict[str, Any]] = {}
        self.order_addresses: dict[str, tuple[str, dict[str, Any]]] = {}  # address id -> (order id, address)
        self.customers: dict[str, dict[str, Any]] = {}
        self.contexts: dict[str, dict[str, Any]] = {}  # sw-context-token -> {"customerId", "lineItems"}
        self.next_order_number = 10000
        # App webhooks (the ``webhook`` entity).
        self.webhooks: dict[str, dict[str, Any]] = {}
        # Faults and throttling.
        self.faults: list[int] = []
        self.request_times: list[float] = []
        self._seed(products)

    # ------------------------------------------------------------------ seeding

    @property
    def base_url(self) -> str:
        return self._base_url()

    def serve_images_from(self, base_url: str) -> None:
        """Make the seeded media URLs absolute, on the sandbox's own ``base_url`` (known once it listens)."""
        with self.lock:
            for media in self.media.values():
                media["url"] = absolute(base_url, media["url"])
            self._json_cache.clear()

    def _seed(self, products: Iterable[SeedProduct]) -> None:
        created = now() - timedelta(days=30)
        for seed in products:
            self._add_seed_product(seed, created)
        self.sorted_ids.sort()
        self.index.build()
        self.sorted_records()

    def _group(self, name: str) -> str:
        group_id = sw_id("group", name)
        self.groups.setdefault(group_id, {"id": group_id, "name": name, "translated": {"name": name}})
        return group_id

    def _option(self, group: str, value: str) -> str:
        group_id = self._group(group)
        option_id = sw_id("option", group, value)
        self.options_.setdefault(
            option_id, {"id": option_id, "groupId": group_id, "name": value, "translated": {"name": value}}
        )
        return option_id

    def _add_seed_product(self, seed: SeedProduct, created: datetime) -> None:
        product_id = sw_id("product", seed.key)
        media_id = sw_id("media", seed.key)
        self.media[media_id] = {
            "id": media_id,
            "url": self.images.add(f"/media/{media_id[:2]}/{media_id[2:4]}/{media_id[4:6]}/{seed.image_file}"),
            "fileName": seed.handle,
            "fileExtension": "png",
            "mimeType": "image/png",
        }
        manufacturer_id = sw_id("manufacturer", seed.brand)
        self.manufacturers.setdefault(manufacturer_id, {"id": manufacturer_id, "name": seed.brand})
        category_id = sw_id("category", seed.collection)
        self.categories.setdefault(category_id, {"id": category_id, "name": seed.collection})
        simple = len(seed.variants) == 1 and not seed.variants[0].options
        first = seed.variants[0]
        parent = {
            "id": product_id,
            "versionId": LIVE_VERSION,
            "parentId": None,
            "childCount": 0 if simple else len(seed.variants),
            "productNumber": first.sku if simple else f"CS-{seed.key:05d}",
            "name": seed.title,
            "description": seed.description,
            "stock": first.stock if simple else 0,
            "availableStock": first.stock if simple else 0,
            "available": first.stock > 0 if simple else False,
            "isCloseout": True,
            "active": seed.published,
            "price": self._seed_price(first.price, first.sale_price),
            "ean": None,
            "manufacturerId": manufacturer_id,
            "coverId": media_id,
            "mediaIds": [media_id],
            "optionIds": [],
            "categoryIds": [category_id],
            "createdAt": created,
            "updatedAt": None,
        }
        self._insert(parent)
        self._seo(product_id, seed.handle)
        if simple:
            return
        for variant in seed.variants:
            variant_id = sw_id("variant", variant.key)
            child = {
                "id": variant_id,
                "versionId": LIVE_VERSION,
                "parentId": product_id,
                "childCount": 0,
                "productNumber": variant.sku,
                "name": None,
                "description": None,
                "stock": variant.stock,
                "availableStock": variant.stock,
                "available": variant.stock > 0,
                "isCloseout": None,
                "active": None,
                "price": self._seed_price(variant.price, variant.sale_price),
                "ean": None,
                "manufacturerId": None,
                "coverId": None,
                "mediaIds": None,
                "optionIds": [self._option(group, value) for group, value in variant.options.items()],
                "categoryIds": None,
                "createdAt": created,
                "updatedAt": None,
            }
            self._insert(child)
            self._seo(variant_id, f"{seed.handle}/{variant.sku}")

    @staticmethod
    def _seed_price(price: Decimal, sale: Decimal | None) -> list[dict[str, Any]]:
        # A sale is modelled the Shopware way: the selling price is the sale, listPrice the "was" price.
        return price_entry(sale, price) if sale is not None else price_entry(price, None)

    def sorted_records(self) -> list[dict[str, Any]]:
        """Products ordered by id, cached until the catalog's membership changes (lock held)."""
        if self._sorted_cache is None:
            self._sorted_cache = [self.products[i] for i in self.sorted_ids]
        return self._sorted_cache

    def _insert(self, record: dict[str, Any]) -> None:
        self._sorted_cache = None
        self.products[record["id"]] = record
        self.sorted_ids.append(record["id"])
        if record["parentId"]:
            self.children.setdefault(record["parentId"], []).append(record["id"])
        self.index.add(record)
        self._changed(record)

    def _changed(self, record: dict[str, Any]) -> None:
        """Forget the cached JSON a change to ``record`` can alter: its own, its variants' and its parent's."""
        cache = self._json_cache
        if not cache:
            return
        cache.pop(record["id"], None)
        if record["parentId"]:
            cache.pop(record["parentId"], None)  # its ``children`` association
        for child in self.children.get(record["id"], ()):
            cache.pop(child, None)  # they inherit from it

    def _seo(self, product_id: str, path: str) -> None:
        self.seo_urls[product_id] = [
            {
                "id": sw_id("seo", product_id),
                "salesChannelId": self.sales_channel_id,
                "foreignKey": product_id,
                "routeName": "frontend.detail.page",
                "pathInfo": f"/detail/{product_id}",
                "seoPathInfo": path,
                "isCanonical": True,
            }
        ]

    # ------------------------------------------------------------------ auth, faults, throttling

    def issue_token(self, client_id: str, client_secret: str) -> tuple[str, int]:
        with self.lock:
            if not (
                hmac.compare_digest(str(client_id), self.client_id)
                and hmac.compare_digest(str(client_secret), self.client_secret)
            ):
                raise StoreError(401, "4", "Client authentication failed", "Unauthorized")
            ttl = int(self.options.get("token_ttl", 600))
            token = secrets.token_urlsafe(32)
            self.tokens[token] = time.monotonic() + ttl
            return token, ttl

    def check_token(self, header: str | None) -> None:
        if not header or not header.startswith("Bearer "):
            raise StoreError(401, "FRAMEWORK__UNAUTHORIZED", 'Header "Authorization" is required.', "Unauthorized")
        with self.lock:
            expiry = self.tokens.get(header[7:])
        if expiry is None:
            raise StoreError(401, "9", "The resource owner or authorization server denied the request.", "Unauthorized")
        if expiry < time.monotonic():
            raise StoreError(
                401,
                "9",
                "The resource owner or authorization server denied the request. Access token expired",
                "Unauthorized",
            )

    def check_access_key(self, key: str | None) -> None:
        if not key or not hmac.compare_digest(key, self.access_key):
            raise StoreError(
                401,
                "FRAMEWORK__API_INVALID_ACCESS_KEY",
                "Access key is invalid and could not be identified.",
                "Unauthorized",
            )

    def add_faults(self, count: int, status: int) -> None:
        with self.lock:
            self.faults.extend([status] * count)

    def take_fault(self) -> int | None:
        with self.lock:
            return self.faults.pop(0) if self.faults else None

    def throttle(self) -> float | None:
        """Seconds to wait when the request rate is over ``rate_limit`` per second, else ``None`` (and count it)."""
        limit = self.options.get("rate_limit")
        if not limit:
            return None
        with self.lock:
            moment = time.monotonic()
            window = [t for t in self.request_times if moment - t < 1.0]
            if len(window) >= int(limit):
                self.request_times = window
                return max(0.05, 1.0 - (moment - window[0]))
            window.append(moment)
            self.request_times = window
            return None

    # ------------------------------------------------------------------ catalog reads

    def resolve_product(self, record: dict[str, Any], field: str) -> Any:
        """Field lookup for criteria on products (``parent.`` and ``options.`` paths, inheritance applied)."""
        if field.startswith("product."):
            field = field[8:]
        if field.startswith("parent."):
            parent = self.products.get(record["parentId"] or "")
            return None if parent is None else self.resolve_product(parent, field[7:])
        if field.startswith("children."):
            return [self.resolve_product(self.products[c], field[9:]) for c in self.children.get(record["id"], ())]
        if field == "options.id":
            return record["optionIds"]
        if field in ("price.gross", "price.net"):
            price = self._inherited(record, "price") or []
            return [p[field[6:]] for p in price]
        if "." in field:
            raise StoreError(400, "FRAMEWORK__ASSOCIATION_NOT_FOUND", f"Field {field} is not supported by the sandbox")
        if field not in record:
            raise StoreError(
                400, "FRAMEWORK__INVALID_FILTER_QUERY", f'Field "{field}" in entity "product" was not found.'
            )
        return self._inherited(record, field)

    def _inherited(self, record: dict[str, Any], key: str) -> Any:
        value = record.get(key)
        if value is None and record["parentId"]:
            return self.products[record["parentId"]].get(key)
        return value

    def search_products(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        """The products a search body's ``filter`` and ``ids`` can match, in the order the search walks them.

        With a ``sort`` that is id order, else insertion order. Indexes narrow the list when they can; the
        caller still applies the criteria to every record returned (lock held).
        """
        by_id = bool(body.get("sort"))
        found = None
        if body.get("filter") or body.get("ids") is not None:
            found = self.index.candidates(body.get("filter") or [], body.get("ids"))
        if found is not None and len(found) * 4 <= len(self.products):
            return self.index.ordered(found, by_id=by_id)
        everything = self.sorted_records() if by_id else list(self.products.values())
        if found is not None:  # a large share of the catalog: one pass beats sorting the ids
            return [r for r in everything if r["id"] in found]
        return everything

    def product_json_text(
        self, record: dict[str, Any], *, inherit: bool, associations: dict[str, Any], key: str
    ) -> str:
        """``json.dumps`` of :meth:`product_json`, cached per product until it (or its family) changes.

        ``key`` identifies ``associations`` (e.g. their JSON with sorted keys)."""
        entries = self._json_cache.get(record["id"])
        if entries is None:
            entries = self._json_cache[record["id"]] = {}
        text = entries.get((inherit, key))
        if text is None:
            data = self.product_json(record, inherit=inherit, associations=associations)
            text = entries[(inherit, key)] = json.dumps(data, default=str)
        return text

    def product_json(self, record: dict[str, Any], *, inherit: bool, associations: dict[str, Any]) -> dict[str, Any]:
        parent = self.products.get(record["parentId"] or "")
        out = product_json(
            record,
            parent,
            inherit=inherit,
            associations=associations,
            media=self.media,
            groups=self.groups,
            options=self.options_,
            manufacturers=self.manufacturers,
            categories=self.categories,
            seo_urls=self.seo_urls,
        )
        if "children" in associations:
            nested = (associations.get("children") or {}).get("associations") or {}
            out["children"] = [
                self.product_json(self.products[c], inherit=inherit, associations=nested)
                for c in self.children.get(record["id"], ())
            ]
        return out

    # ------------------------------------------------------------------ catalog changes (control API)

    def _product(self, product_id: str) -> dict[str, Any]:
        record = self.products.get(product_id)
        if record is None:
            raise StoreError(
                404, "FRAMEWORK__RESOURCE_NOT_FOUND", f"The product resource with id {product_id} was not found."
            )
        return record

    def _written(self, records: Sequence[dict[str, Any]], fields: list[str], operation: str = "update") -> None:
        moment = now()
        for record in records:
            self.index.set_date(record, "updatedAt", moment)
            self._changed(record)
        payload = [
            {
                "entity": "product",
                "operation": operation,
                "primaryKey": r["id"],
                "updatedFields": [*fields, "updatedAt"],
            }
            for r in records
        ]
        self._dispatch("product.written", payload)

    def set_stock(self, variant_id: str, quantity: int) -> None:
        with self.lock:
            record = self._product(variant_id)
            record["stock"] = record["availableStock"] = int(quantity)
            record["available"] = quantity > 0
            self._written([record], ["stock", "availableStock", "available"])

    def set_price(self, variant_id: str, price: Decimal, sale_price: Decimal | None) -> None:
        with self.lock:
            record = self._product(variant_id)
            record["price"] = self._seed_price(price, sale_price)
            self._written([record], ["price"])

    def set_sku(self, variant_id: str, sku: str) -> None:
        with self.lock:
            record = self._product(variant_id)
            if any(p["productNumber"] == sku and p["id"] != variant_id for p in self.products.values()):
                raise StoreError(
                    400, "CONTENT__DUPLICATE_PRODUCT_NUMBER", f'Product with number "{sku}" already exists.'
                )
            record["productNumber"] = sku
            self._written([record], ["productNumber"])

    def set_published(self, product_id: str, published: bool) -> None:
        with self.lock:
            record = self._product(product_id)
            record["active"] = bool(published)
            self._written([record], ["active"])

    def delete_product(self, product_id: str) -> None:
        with self.lock:
            record = self._product(product_id)
            removed = [self.products[c] for c in self.children.pop(product_id, [])] + [record]
            self._sorted_cache = None
            for r in removed:
                self._changed(r)
                self._json_cache.pop(r["id"], None)
                self.index.remove(r)
                del self.products[r["id"]]
                index = bisect.bisect_left(self.sorted_ids, r["id"])
                if index < len(self.sorted_ids) and self.sorted_ids[index] == r["id"]:
                    del self.sorted_ids[index]
                self.seo_urls.pop(r["id"], None)
            if record["parentId"] and record["parentId"] in self.children:
                self.children[record["parentId"]].remove(product_id)
                self.products[record["parentId"]]["childCount"] -= 1
                self._changed(self.products[record["parentId"]])
            payload = [
                {"entity": "product", "operation": "delete", "primaryKey": r["id"], "updatedFields": []}
                for r in removed
            ]
            self._dispatch("product.deleted", payload)
            self._dispatch("product.written", payload)

    def variant_ids(self) -> list[str]:
        """Canonical variant ids: variants, and products without variants."""
        with self.lock:
            return [pid for pid, p in self.products.items() if p["parentId"] or not p["childCount"]]

    # ------------------------------------------------------------------ webhooks

    def webhook_body(self, event: str, payload: Any, *, timestamp: int | None = None) -> bytes:
        """A webhook delivery's body as Shopware sends it; ``timestamp`` (when it was sent, signed with the body)
        defaults to now."""
        return json.dumps(
            {
                "data": {"payload": payload, "event": event},
                "source": {
                    "url": self.base_url,
                    "appVersion": self.app["version"],
                    "shopId": self.shop_id,
                    "eventId": new_id(),
                },
                "timestamp": int(time.time()) if timestamp is None else timestamp,
            },
            separators=(",", ":"),
        ).encode()

    def sign(self, body: bytes) -> str:
        """``shopware-shop-signature``: lowercase hex HMAC-SHA256 of the body with the shop's secret."""
        return hmac.new(self.shop_secret.encode(), body, hashlib.sha256).hexdigest()

    def _dispatch(self, event: str, payload: Any) -> None:
        targets = [w for w in self.webhooks.values() if w["eventName"] == event and w["active"]]
        if not targets:
            return
        body = self.webhook_body(event, payload)
        signature = self.sign(body)
        headers = {
            "Content-Type": "application/json",
            "sw-version": SHOPWARE_VERSION,
            "sw-context-language": sw_id("language", "en"),
            "sw-user-language": "en-GB",
        }
        for webhook in targets:
            # Only app-owned webhooks are signed: Shopware signs with the app's secret, and a webhook without
            # an app has none.
            signed = (
                {**headers, "shopware-shop-signature": signature} if webhook["appId"] == self.app["id"] else headers
            )
            self.sender.send(webhook["url"], body, signed)

    def add_webhook(self, data: dict[str, Any]) -> str:
        with self.lock:
            missing = [k for k in ("name", "eventName", "url") if not data.get(k)]
            if missing:
                raise StoreError(
                    400,
                    "VIOLATION::IS_BLANK_ERROR",
                    f"{', '.join(missing)}: This value should not be blank.",
                    "Constraint violation error",
                )
            webhook_id = data.get("id") or new_id()
            if webhook_id in self.webhooks:
                raise StoreError(400, "FRAMEWORK__WRITE_CONSTRAINT_VIOLATION", f"Webhook {webhook_id} already exists")
            self.webhooks[webhook_id] = {
                "id": webhook_id,
                "name": data["name"],
                "eventName": data["eventName"],
                "url": data["url"],
                "appId": data.get("appId"),
                "active": data.get("active", True),
                "onlyLiveVersion": data.get("onlyLiveVersion", False),
                "errorCount": 0,
                "createdAt": now(),
                "updatedAt": None,
            }
            return webhook_id

    def delete_webhook(self, webhook_id: str) -> None:
        with self.lock:
            if self.webhooks.pop(webhook_id, None) is None:
                raise StoreError(
                    404, "FRAMEWORK__RESOURCE_NOT_FOUND", f"The webhook resource with id {webhook_id} was not found."
                )

    def subscribe_all(self, url: str, events: Iterable[str]) -> None:
        """What installing the app manifest does: one webhook per event, owned by the app."""
        with self.lock:
            existing = {(w["eventName"], w["url"]) for w in self.webhooks.values()}
            for event in events:
                if (event, url) not in existing:
                    self.add_webhook(
                        {"name": f"chatshop-{event}", "eventName": event, "url": url, "appId": self.app["id"]}
                    )

    def uninstall_app(self) -> None:
        with self.lock:
            self._dispatch("app.deleted", [])
            app_hooks = [k for k, w in self.webhooks.items() if w["appId"] == self.app["id"]]
            for key in app_hooks:
                del self.webhooks[key]
