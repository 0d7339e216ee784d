"""The WooCommerce shop adapter: catalog read, webhooks, and orders from chat over the REST API v3."""

from __future__ import annotations

import ipaddress
import logging
import re
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import urlsplit

from connector import model
from connector.adapters import (
    ConfigField,
    ConnectionInfo,
    FieldType,
    ParsedWebhook,
    ShopAdapter,
    WebhookReply,
    WebhookRequest,
)
from connector.errors import (
    AuthenticationError,
    ConnectionTestError,
    NotFound,
    OrderAlreadyShipped,
    PlatformError,
    SettingsError,
)

from . import webhooks
from .client import MAX_PER_PAGE, WooClient
from .mapping import (
    PRODUCT_FIELDS,
    REFERENCE_META_KEY,
    TRACKING_META_KEY,
    VARIATION_FIELDS,
    MappingError,
    address_to,
    format_gmt,
    order_from,
    order_reference,
    simple_variant,
    variation_variant,
)

log = logging.getLogger(__name__)

_LOOPBACK_HOSTS = {"localhost"}
#: How many recent orders of one customer are checked for a cart reference before creating a new order.
_REFERENCE_SCAN_PAGES = 3
#: Attempts at creating one order when the store answers 5xx (each preceded by a reference lookup).
_CREATE_ATTEMPTS = 3
#: The most variation -> parent product ids one adapter remembers (a few MB at most); beyond it, it starts over.
_PARENT_HINTS = 200_000
#: Pages of products (with their variations) a catalog read fetches ahead of the one being stored.
_READ_AHEAD = 2
#: A cart line whose variant a live read (``get_variants``) found this recently is ordered without looking it up
#: again: the chat checks a cart against the shop right before it orders it.
_FRESH_SECONDS = 60.0


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host in _LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _digits(phone: str | None) -> str:
    return re.sub(r"\D", "", phone or "")


class WooCommerceAdapter(ShopAdapter):
    """A WooCommerce store reached through its REST API v3 with a consumer key and secret."""

    name = "woocommerce"
    label = "WooCommerce"
    config_fields: ClassVar[Sequence[ConfigField]] = (
        ConfigField(
            "shop_url",
            "Store URL",
            FieldType.URL,
            help="The WordPress site address, e.g. https://shop.example.com (HTTPS is required).",
        ),
        ConfigField(
            "consumer_key",
            "Consumer key",
            FieldType.SECRET,
            help="ck_... from WooCommerce > Settings > Advanced > REST API (permission: Read/Write).",
        ),
        ConfigField("consumer_secret", "Consumer secret", FieldType.SECRET, help="cs_... shown next to the key."),
        ConfigField(
            "webhook_secret",
            "Webhook secret",
            FieldType.SECRET,
            help="Any long random string; the connector registers its webhooks with it and checks every signature.",
        ),
        ConfigField(
            "parallel_requests",
            "Parallel requests",
            FieldType.INTEGER,
            required=False,
            default=4,
            help="How many variation lists a catalog read fetches at once where WooCommerce (before 10.3) needs "
            "one request per variable product. Lower it if your host throttles the REST API.",
        ),
    )
    webhook_topics: ClassVar[Sequence[str]] = (
        "product.created",
        "product.updated",
        "product.deleted",
        "order.created",
        "order.updated",
        "order.deleted",
    )

    def __init__(self, settings: Mapping[str, Any]):
        super().__init__(settings)
        self.client = WooClient(
            self.settings["shop_url"], self.settings["consumer_key"], self.settings["consumer_secret"]
        )
        self._currency: str | None = None
        # Variation id -> parent product id, learned from every read. WooCommerce can only list variations per
        # parent, so without it a cart check costs three requests per variation; a hint is only a shortcut: a
        # variation not found under its hinted parent is looked up by id as before.
        self._parents: dict[str, str] = {}
        # Variant id -> time.monotonic() of the last live read that found it (see _FRESH_SECONDS).
        self._seen: dict[str, float] = {}
        # Whether the store has ``GET /variations`` (WooCommerce 10.3+); None until a catalog read has asked.
        self._variations_route: bool | None = None

    @classmethod
    def validate_settings(cls, values: Mapping[str, Any]) -> dict[str, Any]:
        """Besides the fields: WooCommerce only accepts key/secret (Basic auth) over HTTPS."""
        cleaned = super().validate_settings(values)
        url = cleaned["shop_url"]
        if url.startswith("http://") and not _is_loopback(url):
            raise SettingsError(
                {"shop_url": "must be an https:// URL: WooCommerce only accepts the consumer key and secret over HTTPS"}
            )
        return cleaned

    # ----------------------------------------------------------------- connection

    def currency(self) -> str:
        """The store currency (product prices carry none), read once from the general settings."""
        if self._currency is None:
            setting = self.client.get("settings/general/woocommerce_currency")
            value = str(setting.get("value") or "").upper()
            if not re.fullmatch(r"[A-Z]{3}", value):
                raise PlatformError(f"WooCommerce reported no usable store currency: {setting.get('value')!r}")
            self._currency = value
        return self._currency

    def test_connection(self) -> ConnectionInfo:
        url = self.client.shop_url
        try:
            index = self.client.site_index()
        except NotFound:
            raise ConnectionTestError(
                f"No WordPress REST API at {url}/wp-json/. Check the store URL, and that Settings > Permalinks "
                "is not set to 'Plain'."
            ) from None
        except PlatformError as exc:
            raise ConnectionTestError(f"Cannot reach the store at {url}: {exc}. Check the store URL.") from None
        except ValueError:
            raise ConnectionTestError(
                f"{url}/wp-json/ is not a WordPress REST API. Check the store URL (the WordPress site address)."
            ) from None
        if "wc/v3" not in (index.get("namespaces") or ()):
            raise ConnectionTestError(
                f"{url} runs WordPress but not the WooCommerce REST API v3. Is WooCommerce active?"
            )
        try:
            currency = self.currency()
        except AuthenticationError as exc:
            raise ConnectionTestError(
                f"WooCommerce refused the consumer key/secret ({exc}). Create a key with Read/Write permission under "
                "WooCommerce > Settings > Advanced > REST API and enter both the key (ck_...) and the secret (cs_...)."
            ) from None
        except PlatformError as exc:
            raise ConnectionTestError(f"WooCommerce answered with an error: {exc}") from None
        try:
            # An empty batch changes nothing, but WooCommerce refuses it for keys without write permission.
            self.client.post("orders/batch", {}, idempotent=True)
        except NotFound:
            log.info("WooCommerce at %s has no orders/batch route; write permission not checked", url)
        except AuthenticationError as exc:
            raise ConnectionTestError(
                f"The consumer key can only read ({exc}). Chat orders need a key with Read/Write permission: edit the "
                "key under WooCommerce > Settings > Advanced > REST API, or create a new one."
            ) from None
        return ConnectionInfo(name=str(index.get("name") or url), currency=currency, details={"url": url})

    # ----------------------------------------------------------------- catalog

    def _variations(self, product: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Every variation of a variable product (WooCommerce lists them per product only)."""
        if not product.get("variations"):
            return []
        path = f"products/{product['id']}/variations"
        params = {"orderby": "id", "order": "asc", "_fields": VARIATION_FIELDS}
        return [v for page in self.client.pages(path, params) for v in page]

    def _variants_of(
        self,
        product: Mapping[str, Any],
        only: set[str] | None = None,
        variations: list[dict[str, Any]] | None = None,
    ) -> Iterator[model.Variant]:
        currency = self.currency()
        try:
            if product.get("type") == "variable":
                parent_id = str(product["id"])
                if len(self._parents) > _PARENT_HINTS:
                    self._parents.clear()
                for variation in self._variations(product) if variations is None else variations:
                    if only is None or str(variation["id"]) in only:
                        self._parents[str(variation["id"])] = parent_id
                        yield variation_variant(product, variation, currency)
            elif product.get("type") != "grouped":  # a grouped product is a container, not a buyable item
                yield simple_variant(product, currency)
        except MappingError as exc:
            log.warning("WooCommerce product %s skipped: %s", product.get("id"), exc)

    def _variations_by_id(self, product: Mapping[str, Any], ids: set[str]) -> list[dict[str, Any]]:
        """The variations ``ids`` of a variable product that are still its own (one request per 100)."""
        ordered = sorted(ids, key=lambda i: (len(i), i))
        found: list[dict[str, Any]] = []
        for start in range(0, len(ordered), MAX_PER_PAGE):
            chunk = ordered[start : start + MAX_PER_PAGE]
            found += self.client.get(
                f"products/{product['id']}/variations", {"include": ",".join(chunk), "per_page": MAX_PER_PAGE}
            )
        return found

    def _variations_of_page(
        self, products: Sequence[Mapping[str, Any]], pool: ThreadPoolExecutor
    ) -> dict[Any, list[dict[str, Any]]]:
        """The variations of a page of products, by product id.

        WooCommerce 10.3+ lists variations across products (``GET /variations?parent=<ids>``): a page of 100
        products costs a few requests, 100 variations each. Older stores only list them per product; there they
        are read one product per request, ``parallel_requests`` at a time.
        """
        variable = [p for p in products if p.get("type") == "variable" and p.get("variations")]
        if not variable:
            return {}
        if self._variations_route is not False:
            grouped: dict[Any, list[dict[str, Any]]] = {p["id"]: [] for p in variable}
            params = {
                "parent": ",".join(str(p["id"]) for p in variable),
                "orderby": "id",
                "order": "asc",
                "_fields": VARIATION_FIELDS,
            }
            try:
                for page in self.client.pages("variations", params):
                    for variation in page:
                        # A variation moved to a product of another page since the products were listed is read
                        # with that page (or the next sync), not here.
                        grouped.get(variation.get("parent_id"), []).append(variation)
            except NotFound:
                if self._variations_route:
                    raise
                log.info(
                    "WooCommerce at %s has no /variations route (before 10.3): one request per product",
                    self.client.shop_url,
                )
                self._variations_route = False
            else:
                self._variations_route = True
                return grouped
        return dict(zip((p["id"] for p in variable), pool.map(self._variations, variable), strict=True))

    def iter_variants(self, *, updated_since: datetime | None = None) -> Iterator[model.Variant]:
        params: dict[str, Any] = {"orderby": "id", "order": "asc", "status": "any", "_fields": PRODUCT_FIELDS}
        if updated_since is not None:
            # WordPress keeps modification times to the second and compares strictly: read one second early.
            params["modified_after"] = format_gmt(updated_since - timedelta(seconds=1))
            params["dates_are_gmt"] = "true"
        workers = max(1, int(self.settings.get("parallel_requests") or 1))
        pages = self.client.pages("products", params)
        with (
            ThreadPoolExecutor(max_workers=workers, thread_name_prefix="woocommerce-read") as pool,
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="woocommerce-ahead") as ahead,
        ):

            def load() -> tuple[list[dict[str, Any]], dict[Any, list[dict[str, Any]]]] | None:
                page = next(pages, None)
                return None if page is None else (page, self._variations_of_page(page, pool))

            # The next pages (products and their variations) are read while this one is mapped and stored: at
            # most _READ_AHEAD + 1 pages in memory. One thread reads them, one page after the other.
            loading = deque(ahead.submit(load) for _ in range(_READ_AHEAD))
            while (loaded := loading.popleft().result()) is not None:
                loading.append(ahead.submit(load))
                page, fetched = loaded
                for product in page:
                    yield from self._variants_of(product, variations=fetched.get(product["id"]))
            for rest in loading:
                rest.cancel()

    def get_variants(self, external_ids: Sequence[str]) -> list[model.Variant]:
        wanted = {str(i) for i in external_ids if str(i).isdigit()}  # WooCommerce ids are numbers
        found: dict[str, model.Variant] = {}
        # Variations under the parent they had when last read, asked for with their parents in the same request.
        hinted: dict[str, set[str]] = {}
        for vid in wanted:
            parent = self._parents.get(vid)
            if parent is not None and parent not in wanted:
                hinted.setdefault(parent, set()).add(vid)
        ids = sorted(wanted | set(hinted), key=lambda i: (len(i), i))
        for start in range(0, len(ids), MAX_PER_PAGE):
            chunk = ids[start : start + MAX_PER_PAGE]
            products = self.client.get(
                "products", {"include": ",".join(chunk), "status": "any", "per_page": MAX_PER_PAGE}
            )
            for product in products:
                pid = str(product["id"])
                if pid in wanted:
                    variants = self._variants_of(product)
                elif pid in hinted and product.get("type") == "variable":
                    variants = self._variants_of(product, hinted[pid], self._variations_by_id(product, hinted[pid]))
                else:
                    continue
                for variant in variants:
                    found[variant.external_id] = variant
        # The rest are variation ids read for the first time (or moved): /products/<id> answers them with their
        # parent_id.
        parents: dict[str, set[str]] = {}
        for vid in wanted - set(found) - {v.product_external_id for v in found.values()}:
            try:
                item = self.client.get(f"products/{vid}")
            except NotFound:
                continue
            if item.get("type") == "variation" and item.get("parent_id"):
                parents.setdefault(str(item["parent_id"]), set()).add(vid)
        for parent_id, only in parents.items():
            try:
                product = self.client.get(f"products/{parent_id}")
            except NotFound:
                continue
            for variant in self._variants_of(product, only, self._variations_by_id(product, only)):
                found[variant.external_id] = variant
        result = [v for v in found.values() if v.external_id in wanted or v.product_external_id in wanted]
        now = time.monotonic()
        if len(self._seen) > _PARENT_HINTS:
            self._seen = {k: t for k, t in list(self._seen.items()) if now - t < _FRESH_SECONDS}
        self._seen.update((v.external_id, now) for v in result)
        return result

    # ----------------------------------------------------------------- webhooks

    def register_webhooks(self, callback_url: str) -> list[str]:
        existing: dict[str, dict[str, Any]] = {}
        for page in self.client.pages("webhooks", {"status": "all"}):
            for hook in page:
                if hook.get("delivery_url") == callback_url:
                    existing.setdefault(str(hook.get("topic")), hook)
        secret = self.settings["webhook_secret"]
        for topic in self.webhook_topics:
            found = existing.get(topic)
            if found is None:
                body = {
                    "name": f"Chatshop Connector: {topic}",
                    "topic": topic,
                    "delivery_url": callback_url,
                    "secret": secret,
                    "status": "active",
                }
                self.client.post("webhooks", body)
            else:
                # Keeps one subscription per topic; re-activates one WooCommerce disabled after failures.
                self.client.put(f"webhooks/{found['id']}", {"secret": secret, "status": "active"})
        return list(self.webhook_topics)

    def handshake(self, request: WebhookRequest) -> WebhookReply | None:
        return webhooks.ping_reply(request)

    def verify_webhook(self, request: WebhookRequest) -> None:
        webhooks.verify(request, self.settings["webhook_secret"])

    def parse_webhook(self, request: WebhookRequest) -> ParsedWebhook:
        return webhooks.parse(request)

    # ----------------------------------------------------------------- orders

    def _order(self, payload: Mapping[str, Any], *, with_links: bool = False) -> model.Order:
        links: dict[str, str] = {}
        has_tracking = any(m.get("key") == TRACKING_META_KEY for m in payload.get("meta_data") or ())
        if with_links and has_tracking:
            try:
                items = self.client.tracking_items(str(payload["id"]))
                links = {str(i.get("tracking_id")): i["tracking_link"] for i in items if i.get("tracking_link")}
            except (NotFound, AuthenticationError):
                pass  # the Shipment Tracking extension is not installed: fall back to what the meta says
        order = order_from(payload, links)
        if order.payment_url is None and payload.get("order_key") and order.status is model.OrderStatus.PENDING:
            order.payment_url = f"{self.client.shop_url}/checkout/order-pay/{payload['id']}/?pay_for_order=true&key={payload['order_key']}"
        return order

    def _orders_matching(self, search: str | None, pages: int) -> Iterator[dict[str, Any]]:
        params: dict[str, Any] = {"orderby": "date", "order": "desc"}
        if search:
            params["search"] = search
        for number, page in enumerate(self.client.pages("orders", params)):
            yield from page
            if number + 1 >= pages:
                return

    def _find_by_reference(self, reference: str, customer: model.Customer) -> dict[str, Any] | None:
        # WooCommerce cannot filter orders by meta: narrow by the customer (billing email/phone are searchable),
        # then compare the reference meta on each candidate.
        term = customer.email or (_digits(customer.phone)[-9:] or None)
        for payload in self._orders_matching(term, _REFERENCE_SCAN_PAGES):
            if order_reference(payload) == reference:
                return payload
        return None

    def _line_item(self, line: model.CartLine) -> dict[str, Any]:
        vid = line.variant_external_id
        seen = self._seen.get(vid)
        if seen is not None and time.monotonic() - seen < _FRESH_SECONDS:
            # Just read live: a variation id goes in ``product_id`` as it is. WooCommerce resolves a line's product
            # with ``wc_get_product()`` and ``WC_Order_Item_Product::set_product()`` files a variation under its
            # parent (``get_product_id_from_line_item`` in the orders controller).
            return {"product_id": int(vid), "quantity": line.quantity}
        # Not read lately: make sure it still exists (WooCommerce would add a line without a product otherwise).
        item = self.client.get(f"products/{vid}")
        if item.get("type") == "variation":
            return {"product_id": int(item["parent_id"]), "variation_id": int(item["id"]), "quantity": line.quantity}
        return {"product_id": int(item["id"]), "quantity": line.quantity}

    def create_order(self, cart: model.Cart, customer: model.Customer, address: model.Address | None) -> model.Order:
        existing = self._find_by_reference(cart.reference, customer)
        if existing is not None:
            return self._order(existing)
        billing_address = address or model.Address(name=customer.name)
        body: dict[str, Any] = {
            "status": "pending",
            "set_paid": False,
            "billing": address_to(billing_address, email=customer.email or "", phone=customer.phone or ""),
            "line_items": [self._line_item(line) for line in cart.lines],
            "meta_data": [{"key": REFERENCE_META_KEY, "value": cart.reference}],
            "customer_note": cart.note,
        }
        if customer.name:
            body["billing"]["first_name"] = customer.first_name or body["billing"]["first_name"]
            body["billing"]["last_name"] = customer.last_name or body["billing"]["last_name"]
        if address is not None:
            body["shipping"] = address_to(address)
        for attempt in range(_CREATE_ATTEMPTS):
            try:
                return self._order(self.client.post("orders", body, idempotent=False))
            except PlatformError as exc:
                if not exc.retryable or attempt + 1 == _CREATE_ATTEMPTS:
                    raise
                # The store may have created the order before failing: look before creating again.
                existing = self._find_by_reference(cart.reference, customer)
                if existing is not None:
                    return self._order(existing)
        raise AssertionError("unreachable")

    def find_orders(
        self, *, phone: str | None = None, email: str | None = None, number: str | None = None, limit: int = 5
    ) -> list[model.Order]:
        if number:
            wanted = number.strip().lstrip("#")
            if wanted.isdigit():
                try:
                    payload = self.client.get(f"orders/{wanted}")
                    if str(payload.get("number")) == wanted:
                        return [self._order(payload)]
                except NotFound:
                    pass
            candidates = self._orders_matching(wanted, 1)
            return [self._order(p) for p in candidates if str(p.get("number")) == wanted][:limit]
        if email:
            wanted_email = email.strip().lower()
            candidates = self._orders_matching(wanted_email, 1)
            matches = [p for p in candidates if str((p.get("billing") or {}).get("email", "")).lower() == wanted_email]
        elif phone:
            # Stores keep phones as typed ("+49 151...", "0151..."): search by the last digits, compare digits.
            tail = _digits(phone)[-9:]
            if not tail:
                return []
            candidates = self._orders_matching(tail, 1)
            matches = [p for p in candidates if _digits((p.get("billing") or {}).get("phone")).endswith(tail)]
        else:
            raise ValueError("give phone, email or number")
        return [self._order(p) for p in matches[:limit]]

    def get_order(self, external_id: str) -> model.Order:
        return self._order(self.client.get(f"orders/{external_id}"), with_links=True)

    def update_shipping_address(self, external_id: str, address: model.Address) -> model.Order:
        order = self.get_order(external_id)
        if order.shipped:
            tracking = ", ".join(f.tracking_number for f in order.fulfillments if f.tracking_number)
            raise OrderAlreadyShipped(
                f"order {order.number} has already shipped{f' ({tracking})' if tracking else ''}; "
                "its delivery address can no longer change"
            )
        payload = self.client.put(f"orders/{external_id}", {"shipping": address_to(address)})
        return self._order(payload, with_links=True)
