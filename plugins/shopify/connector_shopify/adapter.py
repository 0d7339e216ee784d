"""``ShopifyAdapter``: the Shopify shop platform over the GraphQL Admin API."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

from connector_shopify import mapping, queries, scopes, tokens, webhooks
from connector_shopify.client import AccessDenied, ShopifyGraphQL
from connector_shopify.delta import VARIANT_PAGE, DeltaReader, quote

from connector import model
from connector.adapters import (
    ConfigField,
    ConnectionInfo,
    CredentialStore,
    FieldType,
    ParsedWebhook,
    ShopAdapter,
    WebhookRequest,
    validate_settings,
)
from connector.errors import (
    AuthenticationError,
    ConnectionTestError,
    NotFound,
    OrderAlreadyShipped,
    PlatformError,
    SettingsError,
)
from connector.http import HttpClient

log = logging.getLogger(__name__)

API_VERSION = re.compile(r"^(\d{4}-(01|04|07|10)|unstable)$")
#: The Admin API version every document in queries.py is written and validated for (the default setting).
DEFAULT_API_VERSION = "2026-10"
#: Older versions are no longer served (Shopify would answer them with its oldest supported version).
OLDEST_API_VERSION = "2026-01"
#: A targeted read guesses this many variants per product id asked for (more come on the next page).
PAGE_PER_PRODUCT = 4
IDS_PER_SEARCH = 50


def _num(external_id: str) -> str | None:
    match = re.match(r"^gid://shopify/(\w+)/(\d+)", external_id or "")
    return match[2] if match else None


def _kind(external_id: str) -> str | None:
    match = re.match(r"^gid://shopify/(\w+)/\d+", external_id or "")
    return match[1] if match else None


def effective_api_version(configured: str | None) -> str:
    """The version to call: the configured one, or the default when none is set or it is no longer served.

    Connections saved before the 2026-10 upgrade carry ``2025-01``; Shopify would answer it with its oldest
    supported version, which our documents were not written for, so such a setting moves to the default.
    """
    if not configured:
        return DEFAULT_API_VERSION
    if configured != "unstable" and configured < OLDEST_API_VERSION:
        log.warning(
            "Shopify API version %s is no longer served; using %s (update the connection's setting)",
            configured,
            DEFAULT_API_VERSION,
        )
        return DEFAULT_API_VERSION
    return configured


class ShopifyAdapter(ShopAdapter):
    """Shopify via the GraphQL Admin API (REST is legacy). External ids are Shopify GIDs."""

    name = "shopify"
    label = "Shopify"
    config_fields: ClassVar[Sequence[ConfigField]] = (
        ConfigField(
            "shop_url",
            "Shop URL",
            FieldType.URL,
            help="Your shop's admin domain, e.g. https://your-store.myshopify.com",
        ),
        ConfigField(
            "access_token",
            "Admin API access token",
            FieldType.SECRET,
            help="The shpat_... token of your custom app (Settings > Apps > Develop apps > API credentials)",
        ),
        ConfigField(
            "client_secret",
            "API secret key",
            FieldType.SECRET,
            help="The app's API secret key (client secret); Shopify signs webhooks with it",
        ),
        ConfigField(
            "api_version",
            "API version",
            FieldType.STRING,
            required=False,
            default=DEFAULT_API_VERSION,
            help=f"Admin API version, default {DEFAULT_API_VERSION}; a stable version Shopify still serves "
            f"({OLDEST_API_VERSION} or newer)",
        ),
        ConfigField(
            "client_id",
            "Client ID",
            FieldType.STRING,
            required=False,
            default="",
            help="The app's client ID (Dev Dashboard > your app > Settings); needed for tokens that renew themselves",
        ),
        ConfigField(
            "auth_mode",
            "How the token is obtained",
            FieldType.CHOICE,
            required=False,
            default="token",
            choices=tokens.MODES,
            managed=True,
        ),
        ConfigField("refresh_token", "Refresh token", FieldType.SECRET, required=False, default="", managed=True),
        ConfigField("token_expires_at", "Token expires at", FieldType.STRING, required=False, default="", managed=True),
        ConfigField(
            "previous_client_secret",
            "Previous API secret key",
            FieldType.SECRET,
            required=False,
            default="",
            help="While rotating the secret: the old one, accepted for webhooks until Shopify switched (up to 1 hour)",
        ),
    )
    webhook_topics: ClassVar[Sequence[str]] = webhooks.TOPICS

    def __init__(self, settings: Mapping[str, Any]):
        super().__init__(settings)
        self.shop_url = str(self.settings["shop_url"]).rstrip("/")
        self.tokens = tokens.TokenKeeper(self.settings)
        self.api_version = effective_api_version(self.settings.get("api_version"))
        self.gql = ShopifyGraphQL(
            self.shop_url,
            self.settings["access_token"],
            self.api_version,
            tokens=self.tokens if self.tokens.renewable else None,
        )
        # Bulk result files live on a storage host: download without our access token.
        self.files = HttpClient("", platform="Shopify bulk results", timeout=(5.0, 120.0))
        self._shop: mapping.ShopInfo | None = None
        self._items: dict[str, str] = {}  # InventoryItem GID -> canonical variant id, learnt while reading
        self._lock = threading.Lock()
        self.bulk_poll_initial = 0.05
        self.bulk_poll_max = 5.0

    def bind_credential_store(self, store: CredentialStore) -> None:
        """Renewed tokens (installed by approval, client credentials) are stored at once, encrypted."""
        self.tokens.bind(store)

    @classmethod
    def validate_settings(cls, values: Mapping[str, Any]) -> dict[str, Any]:
        cleaned = validate_settings(cls.config_fields, values)
        if cleaned.get("auth_mode") in ("oauth", "client_credentials") and not cleaned.get("client_id"):
            raise SettingsError({"client_id": "tokens that renew themselves need the app's client ID"})
        if not API_VERSION.match(cleaned["api_version"] or ""):
            raise SettingsError(
                {
                    "api_version": f"must look like {DEFAULT_API_VERSION} (YYYY-01/04/07/10), got {cleaned['api_version']!r}"
                }
            )
        if cleaned["api_version"] != "unstable" and cleaned["api_version"] < OLDEST_API_VERSION:
            raise SettingsError(
                {
                    "api_version": f"Shopify no longer serves {cleaned['api_version']}; use {DEFAULT_API_VERSION} "
                    f"(or another version from {OLDEST_API_VERSION} on)"
                }
            )
        if "/admin" in cleaned["shop_url"]:
            raise SettingsError({"shop_url": "give the shop's address only, e.g. https://your-store.myshopify.com"})
        return cleaned

    # ----------------------------------------------------------------- connection

    def _shop_info(self) -> mapping.ShopInfo:
        if self._shop is None:
            shop = self.gql.execute(queries.SHOP)["shop"]
            storefront = (shop.get("primaryDomain") or {}).get("url") or f"https://{shop['myshopifyDomain']}"
            self._shop = mapping.ShopInfo(shop["name"], shop["currencyCode"], storefront.rstrip("/"))
        return self._shop

    def test_connection(self) -> ConnectionInfo:
        """Read the shop and the token's access scopes in one call; fail naming every scope the connector lacks."""
        try:
            data = self.gql.execute(queries.SHOP)
        except AccessDenied as exc:
            raise ConnectionTestError(str(exc)) from exc
        except AuthenticationError as exc:
            raise ConnectionTestError(
                "Shopify refused the Admin API access token. Copy the token (shpat_...) again from your custom app's "
                f"API credentials and check the app is installed on this shop. ({exc})"
            ) from exc
        except NotFound as exc:
            raise ConnectionTestError(
                f"No Shopify Admin API at {self.shop_url} for API version {self.api_version}: check "
                f"the shop URL (https://your-store.myshopify.com) and the API version. ({exc})"
            ) from exc
        except PlatformError as exc:
            raise ConnectionTestError(
                f"Could not reach Shopify at {self.shop_url}: {exc}. Check the shop URL and that the shop is online."
            ) from exc
        shop = data["shop"]
        granted = sorted(s["handle"] for s in (data.get("currentAppInstallation") or {}).get("accessScopes") or [])
        lacking = scopes.missing(granted)
        if lacking:
            raise ConnectionTestError(
                f"The Shopify app's access token lacks {len(lacking)} access "
                f"scope{'s' if len(lacking) > 1 else ''} the connector needs: "
                f"{scopes.explain(lacking)}. In the Shopify admin open Settings > Apps and sales channels > "
                "Develop apps > your app > Configuration, tick these Admin API scopes (a write_ scope includes its "
                f"read_ scope), save, update the app's installation and test again. Granted now: "
                f"{', '.join(granted) or 'none'}."
            )
        return ConnectionInfo(
            name=shop["name"],
            currency=shop["currencyCode"],
            details={
                "domain": shop["myshopifyDomain"],
                "api_version": self.api_version,
                # The version that answered: differs when Shopify fell forward from a retired one.
                "served_api_version": self.gql.served_version,
                "access_scopes": granted,
            },
        )

    # ----------------------------------------------------------------- catalog

    def _learn(self, node: dict[str, Any], variant: model.Variant) -> None:
        item = (node.get("inventoryItem") or {}).get("id")
        if item:
            with self._lock:
                self._items[item] = variant.external_id

    def _variant_pages(self, query: str | None, page: int = VARIANT_PAGE) -> Iterator[model.Variant]:
        """Every variant matching ``query`` (Shopify search syntax), ``page`` at a time."""
        shop = self._shop_info()
        after = None
        while True:
            data = self.gql.execute(queries.VARIANTS_PAGE, {"first": page, "after": after, "query": query})
            page_data = data["productVariants"]
            for node in page_data["nodes"]:
                variant = mapping.variant(node, node["product"], shop)
                self._learn(node, variant)
                yield variant
            if not page_data["pageInfo"]["hasNextPage"]:
                return
            after = page_data["pageInfo"]["endCursor"]

    def iter_variants(self, *, updated_since: datetime | None = None) -> Iterator[model.Variant]:
        """Full read through a bulk operation; incremental read through ``updated_at`` searches."""
        if updated_since is None:
            yield from self._bulk_variants()
            return
        # Shopify keeps seconds: start at the whole second before `updated_since` so nothing slips through.
        since = updated_since.astimezone(UTC).replace(microsecond=0)
        yield from DeltaReader(self.gql, self._shop_info(), self._learn).read(since.strftime("%Y-%m-%dT%H:%M:%SZ"))

    def get_variants(self, external_ids: Sequence[str]) -> list[model.Variant]:
        """Targeted fetch; ids may be variant, product (all its variants) or inventory item GIDs."""
        terms = []
        products = 0  # a product id may stand for several variants; other ids for one each
        for external_id in dict.fromkeys(external_ids):
            kind, num = _kind(external_id), _num(external_id)
            if kind == "ProductVariant":
                terms.append(f"id:{num}")
            elif kind == "Product":
                terms.append(f"product_id:{num}")
                products += 1
            elif kind == "InventoryItem":
                terms.append(f"inventory_item_id:{num}")
        found: dict[str, model.Variant] = {}
        for start in range(0, len(terms), IDS_PER_SEARCH):
            batch = terms[start : start + IDS_PER_SEARCH]
            # Size the page to the answer: Shopify reserves the requested cost (first x 12 points) up front.
            page = min(VARIANT_PAGE, len(batch) * (PAGE_PER_PRODUCT if products else 1))
            for variant in self._variant_pages(" OR ".join(batch), page):
                found.setdefault(variant.external_id, variant)
        return list(found.values())

    # ----------------------------------------------------------------- bulk

    def _start_bulk(self, query: str) -> str:
        deadline = time.monotonic() + 600
        while True:
            result = self.gql.execute(queries.RUN_BULK, {"query": query}, idempotent=False)["bulkOperationRunQuery"]
            errors = result.get("userErrors") or []
            if not errors:
                return result["bulkOperation"]["id"]
            message = "; ".join(e["message"] for e in errors)
            if "already in progress" not in message or time.monotonic() > deadline:
                raise PlatformError(f"Shopify refused the bulk query: {message}")
            log.info("another bulk query is running on this shop; waiting")
            running = re.search(r"gid://shopify/BulkOperation/\d+", message)
            self._wait_bulk(running[0] if running else None)

    def _wait_bulk(self, operation_id: str | None) -> dict[str, Any]:
        """Poll ``operation_id`` until it ends; without an id, until no query operation of this app runs."""
        delay = self.bulk_poll_initial
        while True:
            if operation_id is None:
                ops = self.gql.execute(queries.RUNNING_BULK)["bulkOperations"]["nodes"]
                if not any(op["status"] in ("CREATED", "RUNNING", "CANCELING") for op in ops):
                    return {}
            else:
                op = self.gql.execute(queries.BULK_STATUS, {"id": operation_id})["node"]
                if op is None:
                    raise PlatformError(f"Shopify lost bulk operation {operation_id}")
                if op["status"] not in ("CREATED", "RUNNING"):
                    return op
            time.sleep(delay)
            delay = min(delay * 2, self.bulk_poll_max)

    def _bulk_variants(self) -> Iterator[model.Variant]:
        shop = self._shop_info()
        op = self._wait_bulk(self._start_bulk(queries.BULK_CATALOG))
        if op["status"] != "COMPLETED" and op.get("errorCode") == "ACCESS_DENIED":
            raise AccessDenied(
                "Shopify denied the bulk catalog read (ACCESS_DENIED): the app's access token lacks read_products. "
                "Grant it in the app's Admin API scopes and test the connection again.",
                scopes=["read_products"],
            )
        if op["status"] != "COMPLETED":
            raise PlatformError(f"Shopify bulk catalog read ended {op['status']} ({op.get('errorCode')})")
        if not op.get("url"):
            return  # no products at all
        response = self.files.get(op["url"], stream=True)
        # One line per variant (its product nested), then its media lines (groupObjects: right after it).
        pending: dict[str, Any] | None = None
        try:
            for raw in response.iter_lines(chunk_size=1 << 16):  # the default 512 bytes costs seconds
                if not raw:
                    continue
                row = json.loads(raw)
                parent = row.get("__parentId")
                if parent is None:
                    if pending is not None:
                        yield self._bulk_variant(pending, shop)
                    pending = row
                elif pending is not None and parent == pending["id"]:
                    pending.setdefault("media", {"nodes": []})["nodes"].append(row)
                else:
                    raise PlatformError(f"Shopify bulk result out of order: a child of {parent} after another row")
            if pending is not None:
                yield self._bulk_variant(pending, shop)
        finally:
            response.close()

    def _bulk_variant(self, row: dict[str, Any], shop: mapping.ShopInfo) -> model.Variant:
        variant = mapping.variant(row, row["product"], shop)
        self._learn(row, variant)
        return variant

    # ----------------------------------------------------------------- webhooks

    def verify_webhook(self, request: WebhookRequest) -> None:
        webhooks.verify(request, [self.settings["client_secret"], self.settings.get("previous_client_secret") or ""])

    def parse_webhook(self, request: WebhookRequest) -> ParsedWebhook:
        return webhooks.parse(request, self._items.get)

    def register_webhooks(self, callback_url: str) -> list[str]:
        existing = self.gql.execute(queries.WEBHOOKS, {"uri": callback_url})["webhookSubscriptions"]["nodes"]
        have = {n["topic"] for n in existing}
        for topic in self.webhook_topics:
            enum = topic.upper().replace("/", "_")
            if enum in have:
                continue
            result = self.gql.execute(
                queries.WEBHOOK_CREATE,
                {"topic": enum, "sub": {"uri": callback_url, "format": "JSON"}},
                idempotent=False,
            )["webhookSubscriptionCreate"]
            errors = [e for e in result["userErrors"] if "already been taken" not in e["message"]]
            if errors:
                raise PlatformError(f"Shopify refused the {topic} webhook: {'; '.join(e['message'] for e in errors)}")
        return list(self.webhook_topics)

    # ----------------------------------------------------------------- orders

    @staticmethod
    def reference_tag(reference: str) -> str:
        """The order tag that carries a cart reference (hashed: tags are short and searched verbatim)."""
        return "chatshop-ref-" + hashlib.sha256(reference.encode()).hexdigest()[:24]

    def _find_by_reference(self, reference: str) -> model.Order | None:
        query = f"tag:{quote(self.reference_tag(reference))}"
        nodes = self.gql.execute(queries.ORDERS, {"first": 1, "query": query})["orders"]["nodes"]
        return mapping.order_from_graphql(nodes[0]) if nodes else None

    def _variant_gids(self, ids: Sequence[str]) -> dict[str, str]:
        """Canonical ids -> ProductVariant GIDs (simple products are named by their product GID)."""
        result = {i: i for i in ids if _kind(i) == "ProductVariant"}
        products = [i for i in ids if _kind(i) == "Product"]
        if products:
            for node in self.gql.execute(queries.DEFAULT_VARIANTS, {"ids": products})["nodes"]:
                if node and node.get("hasOnlyDefaultVariant") and node["variants"]["nodes"]:
                    result[node["id"]] = node["variants"]["nodes"][0]["id"]
        unknown = [i for i in ids if i not in result]
        if unknown:
            raise NotFound(f"not Shopify variants of this shop: {', '.join(unknown)}")
        return result

    def create_order(self, cart: model.Cart, customer: model.Customer, address: model.Address | None) -> model.Order:
        """An order with payment pending and a payment link, tagged with the cart reference (idempotent)."""
        existing = self._find_by_reference(cart.reference)
        if existing is not None:
            return existing
        variants = self._variant_gids([line.variant_external_id for line in cart.lines])
        order_input: dict[str, Any] = {
            "lineItems": [
                {"variantId": variants[line.variant_external_id], "quantity": line.quantity} for line in cart.lines
            ],
            "financialStatus": "PENDING",
            "tags": ["chatshop", self.reference_tag(cart.reference)],
            "customAttributes": [{"key": mapping.REFERENCE_KEY, "value": cart.reference}],
            "sourceIdentifier": cart.reference,
        }
        if customer.email:
            order_input["email"] = customer.email
        if customer.phone:
            order_input["phone"] = customer.phone
        if cart.note:
            order_input["note"] = cart.note
        if address is not None:
            order_input["shippingAddress"] = mapping.address_input(address, customer.phone)
            order_input["billingAddress"] = order_input["shippingAddress"]
        for attempt in range(3):
            try:
                result = self.gql.execute(queries.ORDER_CREATE, {"order": order_input}, idempotent=False)["orderCreate"]
            except PlatformError as exc:
                # An ambiguous failure may still have created the order: look before trying again.
                if not exc.retryable or attempt == 2:
                    raise
                log.info("orderCreate failed (%s); checking whether it went through", exc)
                found = self._find_by_reference(cart.reference)
                if found is not None:
                    return found
                continue
            if result["userErrors"]:
                raise PlatformError(
                    "Shopify refused the order: " + "; ".join(e["message"] for e in result["userErrors"]),
                    code="USER_ERROR",
                )
            return mapping.order_from_graphql(result["order"])
        raise AssertionError("unreachable")

    def find_orders(
        self, *, phone: str | None = None, email: str | None = None, number: str | None = None, limit: int = 5
    ) -> list[model.Order]:
        terms = []
        if phone:
            terms.append(f"phone:{quote(phone)}")
        if email:
            terms.append(f"email:{quote(email)}")
        if number:
            terms.append(f"name:{quote('#' + number.lstrip('#'))}")
        if not terms:
            return []
        data = self.gql.execute(queries.ORDERS, {"first": max(1, min(limit, 5)), "query": " ".join(terms)})
        return [mapping.order_from_graphql(n) for n in data["orders"]["nodes"]][:limit]

    def abandoned_checkouts(self, *, updated_since: datetime | None = None) -> Iterator[model.Checkout]:
        """Open checkouts (the ``abandonedCheckouts`` query, ``status:open``, five per page: each carries up to 25 lines within the query
        cost limit), changed since ``updated_since``:
        what checkout recovery reads besides the ``checkouts/*`` webhooks, to catch missed deliveries."""
        query = "status:open"
        if updated_since is not None:
            since = updated_since.astimezone(UTC).replace(microsecond=0)
            query += f" updated_at:>={quote(since.strftime('%Y-%m-%dT%H:%M:%SZ'))}"
        after: str | None = None
        while True:
            data = self.gql.execute(queries.ABANDONED_CHECKOUTS, {"first": 5, "after": after, "query": query})
            page = data["abandonedCheckouts"]
            for node in page["nodes"]:
                yield mapping.checkout_from_graphql(node)
            if not page["pageInfo"]["hasNextPage"]:
                return
            after = page["pageInfo"]["endCursor"]

    def get_order(self, external_id: str) -> model.Order:
        if _kind(external_id) != "Order":
            raise NotFound(f"{external_id!r} is not a Shopify order id (gid://shopify/Order/...)")
        node = self.gql.execute(queries.ORDER, {"id": external_id})["order"]
        if node is None:
            raise NotFound(f"Shopify has no order {external_id}")
        return mapping.order_from_graphql(node)

    def update_shipping_address(self, external_id: str, address: model.Address) -> model.Order:
        order = self.get_order(external_id)
        if order.shipped:
            raise OrderAlreadyShipped(f"order {order.number} has shipped; its address can no longer change")
        payload = {"id": external_id, "shippingAddress": mapping.address_input(address, order.customer.phone)}
        result = self.gql.execute(queries.ORDER_UPDATE, {"input": payload})["orderUpdate"]
        if result["userErrors"]:
            message = "; ".join(e["message"] for e in result["userErrors"])
            if "fulfil" in message.lower():
                raise OrderAlreadyShipped(f"order {order.number}: {message}")
            raise PlatformError(f"Shopify refused the address change: {message}", code="USER_ERROR")
        return mapping.order_from_graphql(result["order"])
