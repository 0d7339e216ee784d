"""The sandbox shop's state: products, variants, inventory, orders, fulfillments, webhook subscriptions.

Records are dicts already in the GraphQL shape the executor serves; keys starting with ``_`` are
internal (numeric id, datetimes, child lists). Every public method is called with :attr:`Store.lock`
held by the caller (the Flask app), so the state is consistent under concurrent requests.
"""

from __future__ import annotations

import bisect
import secrets
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from connector.sandbox.images import ProductImages, absolute
from connector.sandbox.seed import CURRENCY, SeedProduct

PRODUCT_BASE = 7_000_000_000
VARIANT_BASE = 40_000_000_000
ITEM_BASE = 45_000_000_000
LOCATION_ID = 61_234_567_890


def gid(kind: str, num: int) -> str:
    return f"gid://shopify/{kind}/{num}"


def gid_num(value: str, kind: str | None = None) -> int | None:
    """The numeric part of a GID (``None`` if ``value`` is not a GID of ``kind``)."""
    if not isinstance(value, str) or not value.startswith("gid://shopify/"):
        return None
    parts = value[len("gid://shopify/") :].split("/")
    if len(parts) != 2 or (kind and parts[0] != kind):
        return None
    try:
        return int(parts[1].split("?")[0])
    except ValueError:
        return None


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now() -> datetime:
    """Shopify keeps timestamps to the second."""
    return datetime.now(UTC).replace(microsecond=0)


def money_bag(amount: Decimal, currency: str) -> dict[str, Any]:
    money = {"amount": f"{amount:.2f}", "currencyCode": currency}
    return {"shopMoney": money, "presentmentMoney": dict(money)}


class Sorted:
    """Records by numeric id plus the ids in ascending order, for cursor pagination by bisection.

    With ``track_updated`` it also keeps ``(_updated, id)`` pairs in order: the index Shopify's
    ``updated_at:>X`` searches use, so such a search reads the matching records, not the whole shop.
    """

    def __init__(self, *, track_updated: bool = False) -> None:
        self.by_id: dict[int, dict[str, Any]] = {}
        self.ids: list[int] = []
        self.by_updated: list[tuple[datetime, int]] | None = [] if track_updated else None

    def add(self, record: dict[str, Any]) -> None:
        num = record["_num"]
        if self.ids and num > self.ids[-1]:
            self.ids.append(num)
        else:
            bisect.insort(self.ids, num)
        self.by_id[num] = record
        if self.by_updated is not None:
            bisect.insort(self.by_updated, (record["_updated"], num))

    def remove(self, num: int) -> None:
        record = self.by_id.pop(num, None)
        index = bisect.bisect_left(self.ids, num)
        if index < len(self.ids) and self.ids[index] == num:
            del self.ids[index]
        if record is not None and self.by_updated is not None:
            self._unindex(record)

    def _unindex(self, record: dict[str, Any]) -> None:
        assert self.by_updated is not None
        key = (record["_updated"], record["_num"])
        index = bisect.bisect_left(self.by_updated, key)
        if index < len(self.by_updated) and self.by_updated[index] == key:
            del self.by_updated[index]

    def stamp(self, record: dict[str, Any], moment: datetime) -> None:
        """Set ``record``'s update time (``_updated`` and ``updatedAt``), keeping the index in order."""
        if self.by_updated is not None and record["_num"] in self.by_id:
            self._unindex(record)
            bisect.insort(self.by_updated, (moment, record["_num"]))
        record["_updated"], record["updatedAt"] = moment, iso(moment)

    def updated_ids(self, op: str, moment: datetime) -> list[int] | None:
        """Ids whose update time compares ``op`` (``>``, ``>=``, ``<``, ``<=``) with ``moment``; ``None`` without
        an index or for another comparator."""
        index = self.by_updated
        if index is None:
            return None
        first, last = (moment, -1), (moment, 1 << 62)
        if op == ">":
            return [num for _, num in index[bisect.bisect_right(index, last) :]]
        if op == ">=":
            return [num for _, num in index[bisect.bisect_left(index, first) :]]
        if op == "<":
            return [num for _, num in index[: bisect.bisect_left(index, first)]]
        if op == "<=":
            return [num for _, num in index[: bisect.bisect_right(index, last)]]
        return None


class Store:
    """All sandbox state. ``lock`` guards it."""

    def __init__(self, products: Sequence[SeedProduct], shop_domain: str, currency: str = CURRENCY):
        self.lock = threading.RLock()
        self.currency = currency
        self.shop_domain = shop_domain
        self.base_url = ""  # set from the first request (the sandbox's own URL)
        self.shop = {
            "__typename": "Shop",
            "id": gid("Shop", 1),
            "name": "Chatshop Sandbox",
            "email": "owner@chatshop-sandbox.example.com",
            "currencyCode": currency,
            "myshopifyDomain": shop_domain,
            "url": f"https://{shop_domain}",
            "primaryDomain": {"__typename": "Domain", "host": shop_domain, "url": f"https://{shop_domain}"},
        }
        self.products = Sorted(track_updated=True)
        self.images = ProductImages()  # the shop's uploaded files, served under /s/files/ as Shopify's CDN does
        self.variants = Sorted(track_updated=True)
        self.orders = Sorted()
        self.checkouts = Sorted()
        self.items: dict[int, dict[str, Any]] = {}  # inventory item num -> variant
        self.subscriptions: list[dict[str, Any]] = []
        self.bulk_ops: dict[int, dict[str, Any]] = {}
        self.bulk_files: dict[str, bytes] = {}
        self.payment_tokens: dict[str, int] = {}
        self._next = {"order": 1, "line": 1, "fulfillment": 1, "event": 1, "webhook": 1, "bulk": 1, "checkout": 1}
        seeded = now() - timedelta(days=2)
        for seed in products:
            self._add_product(seed, seeded)

    def serve_images_from(self, base_url: str) -> None:
        """Make the seeded image URLs absolute, on the sandbox's own ``base_url`` (known once it listens)."""
        with self.lock:
            for product in self.products.by_id.values():
                if media := product.get("featuredMedia"):
                    media["image"]["url"] = absolute(base_url, media["image"]["url"])

    # ----------------------------------------------------------------- seeding

    def _add_product(self, seed: SeedProduct, stamp: datetime) -> None:
        num = PRODUCT_BASE + seed.key
        default_only = len(seed.variants) == 1 and not seed.variants[0].options
        path = self.images.add(f"/s/files/1/0000/0001/files/{seed.image_file}")
        image = {"__typename": "Image", "url": path, "altText": seed.title}
        product: dict[str, Any] = {
            "__typename": "Product",
            "_num": num,
            "_created": stamp,
            "_updated": stamp,
            "_variants": [],
            "id": gid("Product", num),
            "title": seed.title,
            "handle": seed.handle,
            "descriptionHtml": f"<p>{seed.description}</p>",
            "description": seed.description,
            "vendor": seed.brand,
            "productType": seed.collection,
            "tags": [seed.collection.lower()],
            "hasOnlyDefaultVariant": default_only,
            "createdAt": iso(stamp),
            "updatedAt": iso(stamp),
            "featuredMedia": {
                "__typename": "MediaImage",
                "id": gid("MediaImage", num),
                "mediaContentType": "IMAGE",
                "alt": seed.title,
                "image": image,
                "preview": {"__typename": "MediaPreviewImage", "image": image},
            },
        }
        option_names = list(seed.variants[0].options) if not default_only else ["Title"]
        product["options"] = [{"__typename": "ProductOption", "name": n} for n in option_names]
        self._set_status(product, seed.published)
        self.products.add(product)
        for position, sv in enumerate(seed.variants, start=1):
            vnum = VARIANT_BASE + sv.key
            options = sv.options or {"Title": "Default Title"}
            variant: dict[str, Any] = {
                "__typename": "ProductVariant",
                "_num": vnum,
                "_updated": stamp,
                "_product": product,
                "id": gid("ProductVariant", vnum),
                "title": " / ".join(options.values()),
                "displayName": f"{seed.title} - {' / '.join(options.values())}",
                "sku": sv.sku,
                "barcode": None,
                "position": position,
                "inventoryPolicy": "DENY",
                "inventoryQuantity": sv.stock,
                "selectedOptions": [
                    {"__typename": "SelectedOption", "name": k, "value": v} for k, v in options.items()
                ],
                "image": None,  # deprecated since 2024-01 ("Use `media` instead"), still served
                "_media": [],
                "product": product,
                "createdAt": iso(stamp),
                "updatedAt": iso(stamp),
            }
            self._set_price(variant, sv.price, sv.sale_price)
            variant["availableForSale"] = sv.stock > 0
            inum = ITEM_BASE + sv.key
            variant["inventoryItem"] = {
                "__typename": "InventoryItem",
                "_num": inum,
                "id": gid("InventoryItem", inum),
                "tracked": True,
                "sku": sv.sku,
                "variant": variant,
            }
            self.items[inum] = variant
            product["_variants"].append(variant)
            self.variants.add(variant)

    def _set_status(self, product: dict[str, Any], published: bool) -> None:
        product["status"] = "ACTIVE" if published else "DRAFT"
        product["onlineStoreUrl"] = f"https://{self.shop_domain}/products/{product['handle']}" if published else None
        product["onlineStorePreviewUrl"] = f"https://{self.shop_domain}/products/{product['handle']}"

    @staticmethod
    def _set_price(variant: dict[str, Any], price: Decimal, sale_price: Decimal | None) -> None:
        # Shopify has no "sale price": a sale is price < compareAtPrice.
        if sale_price is not None and sale_price < price:
            variant["price"], variant["compareAtPrice"] = f"{sale_price:.2f}", f"{price:.2f}"
        else:
            variant["price"], variant["compareAtPrice"] = f"{price:.2f}", None

    # ----------------------------------------------------------------- lookups

    def canonical_id(self, variant: dict[str, Any]) -> str:
        """The id the connector uses: the product GID for a product that has only its default variant."""
        product = variant["_product"]
        return product["id"] if product["hasOnlyDefaultVariant"] else variant["id"]

    def canonical_variant_ids(self) -> list[str]:
        return [self.canonical_id(self.variants.by_id[n]) for n in self.variants.ids]

    def variant_by_canonical(self, external_id: str) -> dict[str, Any] | None:
        if (num := gid_num(external_id, "ProductVariant")) is not None:
            return self.variants.by_id.get(num)
        if (num := gid_num(external_id, "Product")) is not None and (product := self.products.by_id.get(num)):
            return product["_variants"][0] if product["hasOnlyDefaultVariant"] else None
        return None

    def product(self, external_id: str) -> dict[str, Any] | None:
        num = gid_num(external_id, "Product")
        return self.products.by_id.get(num) if num is not None else None

    def order(self, external_id: str) -> dict[str, Any] | None:
        num = gid_num(external_id, "Order")
        return self.orders.by_id.get(num) if num is not None else None

    def node(self, value: str) -> dict[str, Any] | None:
        """Any record by GID (``node(id:)``)."""
        num = gid_num(value)
        kind = value.split("/")[3] if num is not None else ""
        if kind == "Product":
            return self.products.by_id.get(num)  # type: ignore[arg-type]
        if kind == "ProductVariant":
            return self.variants.by_id.get(num)  # type: ignore[arg-type]
        if kind == "InventoryItem" and (variant := self.items.get(num)):  # type: ignore[arg-type]
            return variant["inventoryItem"]
        if kind == "Order":
            return self.orders.by_id.get(num)  # type: ignore[arg-type]
        if kind == "AbandonedCheckout":
            return self.checkouts.by_id.get(num)  # type: ignore[arg-type]
        if kind == "BulkOperation":
            return self.bulk_ops.get(num)  # type: ignore[arg-type]
        if kind == "Fulfillment":
            for order in self.orders.by_id.values():
                for f in order["_fulfillments"]:
                    if f["id"] == value:
                        return f
        return None

    def next_id(self, kind: str) -> int:
        value = self._next[kind]
        self._next[kind] = value + 1
        return value

    # ----------------------------------------------------------------- changes

    def touch_product(self, product: dict[str, Any], *variants: dict[str, Any]) -> None:
        stamp = now()
        self.products.stamp(product, stamp)
        for variant in variants:
            self.variants.stamp(variant, stamp)

    def set_stock(self, variant: dict[str, Any], quantity: int) -> None:
        variant["inventoryQuantity"] = quantity
        variant["availableForSale"] = quantity > 0 or variant["inventoryPolicy"] == "CONTINUE"
        self.touch_product(variant["_product"], variant)

    def set_price(self, variant: dict[str, Any], price: Decimal, sale_price: Decimal | None) -> None:
        self._set_price(variant, price, sale_price)
        self.touch_product(variant["_product"], variant)

    def set_sku(self, variant: dict[str, Any], sku: str) -> None:
        variant["sku"] = sku
        variant["inventoryItem"]["sku"] = sku
        self.touch_product(variant["_product"], variant)

    def set_published(self, product: dict[str, Any], published: bool) -> None:
        self._set_status(product, published)
        self.touch_product(product)

    def delete_product(self, product: dict[str, Any]) -> None:
        self.products.remove(product["_num"])
        for variant in product["_variants"]:
            self.variants.remove(variant["_num"])
            self.items.pop(variant["inventoryItem"]["_num"], None)

    # ----------------------------------------------------------------- orders

    def add_order(self, record: dict[str, Any]) -> dict[str, Any]:
        self.orders.add(record)
        return record

    def order_name(self) -> tuple[int, str]:
        num = 5_100_000_000 + self._next["order"]
        name = f"#{1000 + self.next_id('order')}"
        return num, name

    def payment_url(self, order_num: int) -> str:
        token = secrets.token_hex(16)
        self.payment_tokens[token] = order_num
        return f"{self.base_url}/payments/{token}"
