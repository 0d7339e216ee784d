"""The Shopware 6 shop adapter: catalog, webhooks and chat orders over the Admin and Store APIs."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import urlparse

from connector_shopware import webhooks
from connector_shopware.catalog import PRODUCT_ASSOCIATIONS, is_variant, to_variant
from connector_shopware.client import AdminApi
from connector_shopware.orders import (
    ORDER_ASSOCIATIONS,
    REFERENCE_PREFIX,
    SHIPPED_STATES,
    address_payload,
    split_name,
    to_order,
)
from connector_shopware.storefront import StoreApi

from connector import model
from connector.adapters import ConfigField, ConnectionInfo, FieldType, ParsedWebhook, ShopAdapter, WebhookRequest
from connector.errors import (
    AuthenticationError,
    ConnectionTestError,
    ConnectorError,
    NotFound,
    OrderAlreadyShipped,
    PlatformError,
    SettingsError,
)

#: Guests need an email in Shopware; a chat customer without one gets this reserved, undeliverable domain.
PLACEHOLDER_EMAIL_DOMAIN = "chat.invalid"


class ShopwareAdapter(ShopAdapter):
    """A Shopware 6 shop reached through an integration (Admin API) and a sales channel (Store API)."""

    name = "shopware"
    label = "Shopware 6"
    config_fields: ClassVar[Sequence[ConfigField]] = (
        ConfigField("shop_url", "Shop URL", FieldType.URL, help="The shop's base URL, e.g. https://shop.example.com"),
        ConfigField(
            "client_id", "Access key ID", help="Settings > System > Integrations: the integration's access key ID"
        ),
        ConfigField(
            "client_secret", "Secret access key", FieldType.SECRET, help="Shown once when the integration is created"
        ),
        ConfigField(
            "sales_channel_access_key",
            "Sales channel API access key",
            FieldType.SECRET,
            help="Sales Channels > (your storefront) > API access: used to place chat orders as a guest checkout",
        ),
        ConfigField(
            "webhook_secret",
            "App shop secret",
            FieldType.SECRET,
            help="The secret the Chatshop Connector app signs webhooks with (shopware-shop-signature)",
        ),
        ConfigField(
            "app_name",
            "App name",
            required=False,
            default="ChatshopConnector",
            help="The installed app owning the webhooks",
        ),
        ConfigField("storefront_url", "Storefront URL", FieldType.URL, required=False, help="Defaults to the shop URL"),
        # Set by the app registration handshake: which shop registered (its lifecycle webhooks name it).
        ConfigField("shop_id", "Shop ID", required=False, default="", managed=True),
        ConfigField("page_size", "Products per request", FieldType.INTEGER, required=False, default=250),
    )
    webhook_topics: ClassVar[Sequence[str]] = (
        "product.written",
        "product.deleted",
        "order.written",
        "checkout.order.placed",
        "state_enter.order_delivery.state.shipped",
        "state_enter.order_delivery.state.shipped_partially",
        "state_enter.order_delivery.state.returned",
        "state_enter.order_delivery.state.returned_partially",
        "state_enter.order_delivery.state.cancelled",
        "state_enter.order.state.completed",
        "state_enter.order.state.cancelled",
        "state_enter.order_transaction.state.paid",
        "app.deleted",
    )

    def __init__(self, settings: Mapping[str, Any]):
        super().__init__(settings)
        self.shop_url = str(self.settings["shop_url"]).rstrip("/")
        self.storefront_url = str(self.settings.get("storefront_url") or self.shop_url).rstrip("/")
        self.page_size = int(self.settings.get("page_size") or 250)
        self.api = AdminApi(self.shop_url, str(self.settings["client_id"]), str(self.settings["client_secret"]))
        self.store = StoreApi(self.shop_url, str(self.settings.get("sales_channel_access_key") or ""))
        self._currencies: dict[str, str] | None = None
        self._countries: dict[str, str] = {}
        self._reference_locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    @classmethod
    def validate_settings(cls, values: Mapping[str, Any]) -> dict[str, Any]:
        cleaned = super().validate_settings(values)
        errors = {}
        if urlparse(cleaned["shop_url"]).path.rstrip("/").endswith("/api"):
            errors["shop_url"] = "give the shop's base URL, without /api"
        if not 1 <= int(cleaned.get("page_size") or 250) <= 500:
            errors["page_size"] = "must be between 1 and 500"
        if errors:
            raise SettingsError(errors)
        return cleaned

    # ------------------------------------------------------------------ connection

    def test_connection(self) -> ConnectionInfo:
        try:
            version = self.api.request("GET", "/api/_info/version").json().get("version")
        except AuthenticationError as exc:
            raise ConnectionTestError(
                "Shopware refused the integration credentials: check the Access key ID and Secret access key "
                f"(Settings > System > Integrations) for {self.shop_url}. ({exc})"
            ) from None
        except NotFound:
            raise ConnectionTestError(
                f"{self.shop_url} has no Shopware Admin API at /api: check the shop URL"
            ) from None
        except PlatformError as exc:
            raise ConnectionTestError(f"could not reach the Shopware Admin API at {self.shop_url}: {exc}") from None
        try:
            self.store.countries()
        except AuthenticationError:
            raise ConnectionTestError(
                "the Admin API works, but Shopware refused the sales channel API access key "
                "(Sales Channels > your storefront > API access): chat orders cannot be created"
            ) from None
        return ConnectionInfo(
            name=urlparse(self.shop_url).netloc or self.shop_url,
            currency=next(iter(self.currencies().values()), None),
            details={"version": version, "storefront_url": self.storefront_url},
        )

    def currencies(self) -> dict[str, str]:
        """Currency id -> ISO code, read once."""
        if self._currencies is None:
            data = self.api.search("currency", {"limit": 100}).get("data") or []
            self._currencies = {c["id"]: c["isoCode"] for c in data}
        return self._currencies

    # ------------------------------------------------------------------ catalog

    def _variants(self, criteria: dict[str, Any]) -> Iterator[model.Variant]:
        currencies = self.currencies()
        body = {**criteria, "associations": PRODUCT_ASSOCIATIONS, "sort": [{"field": "id", "order": "ASC"}]}
        for page in self.api.search_pages("product", body, page_size=self.page_size, inherit=True):
            for product in page:
                if is_variant(product):
                    yield to_variant(product, currencies=currencies, storefront_url=self.storefront_url)

    def iter_variants(self, *, updated_since: datetime | None = None) -> Iterator[model.Variant]:
        criteria: dict[str, Any] = {}
        if updated_since is not None:
            since = (updated_since if updated_since.tzinfo else updated_since.replace(tzinfo=UTC)).isoformat()
            # A variant changes when it or its parent is written; a never-updated product only has createdAt.
            criteria["filter"] = [
                {
                    "type": "multi",
                    "operator": "OR",
                    "queries": [
                        {"type": "range", "field": field, "parameters": {"gte": since}}
                        for field in ("updatedAt", "createdAt", "parent.updatedAt")
                    ],
                }
            ]
        yield from self._variants(criteria)

    def get_variants(self, external_ids: Sequence[str]) -> list[model.Variant]:
        ids = [i for i in dict.fromkeys(external_ids) if i]
        found: list[model.Variant] = []
        for start in range(0, len(ids), 100):
            chunk = ids[start : start + 100]
            criteria = {
                "filter": [
                    {
                        "type": "multi",
                        "operator": "OR",
                        "queries": [
                            {"type": "equalsAny", "field": "id", "value": chunk},
                            {"type": "equalsAny", "field": "parentId", "value": chunk},
                        ],
                    }
                ]
            }
            found.extend(self._variants(criteria))
        return found

    # ------------------------------------------------------------------ webhooks

    def verify_webhook(self, request: WebhookRequest) -> None:
        webhooks.verify(request, str(self.settings.get("webhook_secret") or ""))

    def parse_webhook(self, request: WebhookRequest) -> ParsedWebhook:
        return webhooks.parse(request, payment_base_url=self.storefront_url)

    def register_webhooks(self, callback_url: str) -> list[str]:
        """Create one app-owned ``webhook`` per topic (signed with the app's secret); existing ones are kept."""
        app_name = str(self.settings.get("app_name") or "ChatshopConnector")
        apps = self.api.search("app", {"filter": [{"type": "equals", "field": "name", "value": app_name}], "limit": 1})
        if not apps.get("data"):
            raise ConnectorError(
                f"the app {app_name!r} is not installed in this shop: install it (see docs/platforms/shopware.md) "
                "so Shopware signs the webhooks"
            )
        app_id = apps["data"][0]["id"]
        existing = (
            self.api.search(
                "webhook", {"filter": [{"type": "equals", "field": "url", "value": callback_url}], "limit": 500}
            ).get("data")
            or []
        )
        have = {w["eventName"] for w in existing if w.get("appId") == app_id}
        for topic in self.webhook_topics:
            if topic not in have:
                self.api.request(
                    "POST",
                    "/api/webhook",
                    json={
                        "name": f"chatshop-{topic}",
                        "eventName": topic,
                        "url": callback_url,
                        "appId": app_id,
                        "onlyLiveVersion": True,
                    },
                )
        return list(self.webhook_topics)

    # ------------------------------------------------------------------ orders

    def _search_orders(self, criteria: dict[str, Any]) -> list[model.Order]:
        body = {**criteria, "associations": ORDER_ASSOCIATIONS}
        data = self.api.search("order", body).get("data") or []
        return [to_order(o, payment_base_url=self.storefront_url) for o in data]

    def _order_raw(self, external_id: str) -> dict[str, Any]:
        data = self.api.search("order", {"ids": [external_id], "associations": ORDER_ASSOCIATIONS}).get("data") or []
        if not data:
            raise NotFound(f"Shopware has no order {external_id}", status=404)
        return data[0]

    def get_order(self, external_id: str) -> model.Order:
        return to_order(self._order_raw(external_id), payment_base_url=self.storefront_url)

    def find_orders(
        self, *, phone: str | None = None, email: str | None = None, number: str | None = None, limit: int = 5
    ) -> list[model.Order]:
        filters: list[dict[str, Any]] = []
        if number:
            filters.append({"type": "equals", "field": "orderNumber", "value": number.strip().lstrip("#")})
        if email:
            filters.append({"type": "equals", "field": "orderCustomer.email", "value": email.strip()})
        if phone:
            digits = re.sub(r"\D", "", phone)
            filters.append(
                {"type": "equalsAny", "field": "addresses.phoneNumber", "value": [phone, f"+{digits}", digits]}
            )
        if not filters:
            return []
        return self._search_orders(
            {"filter": filters, "sort": [{"field": "orderDateTime", "order": "DESC"}], "limit": max(1, limit)}
        )

    def _lock_for(self, reference: str) -> threading.Lock:
        with self._locks_guard:
            return self._reference_locks.setdefault(reference, threading.Lock())

    def _by_reference(self, reference: str) -> model.Order | None:
        found = self._search_orders(
            {"filter": [{"type": "equals", "field": "campaignCode", "value": REFERENCE_PREFIX + reference}], "limit": 1}
        )
        return found[0] if found else None

    def _country_id(self, code: str) -> str:
        code = code.strip().upper()
        if code not in self._countries:
            country = self.store.country(code)
            if country is None:
                raise ConnectorError(
                    f"the shop does not deliver to country {code!r} (not assigned to the sales channel)"
                )
            self._countries[code] = country
        return self._countries[code]

    def create_order(self, cart: model.Cart, customer: model.Customer, address: model.Address | None) -> model.Order:
        """A guest checkout through the Store API; the order's campaign code carries ``chatshop:<reference>``.

        The customer pays on the storefront's order page (``/account/order/<deepLinkCode>``)."""
        if not cart.reference:
            raise ValueError("a chat cart needs a reference (the idempotency key)")
        with self._lock_for(cart.reference):
            existing = self._by_reference(cart.reference)
            if existing is not None:
                return existing
            if address is None or address.missing_fields():
                missing = ", ".join(address.missing_fields()) if address else "the whole address"
                raise ConnectorError(f"Shopware needs a delivery address to place an order; missing: {missing}")
            first, last = customer.first_name, customer.last_name
            if not (first and last):
                first, last = split_name(address.name)
            digits = re.sub(r"\D", "", customer.phone or "")
            email = customer.email or f"{digits or 'guest'}@{PLACEHOLDER_EMAIL_DOMAIN}"
            shipping = address_payload(
                address,
                self._country_id(address.country_code),
                first_name=first,
                last_name=last,
            )
            if not shipping["phoneNumber"] and customer.phone:
                shipping["phoneNumber"] = customer.phone
            token = self.store.register_guest(
                email=email,
                first_name=first or "Chat",
                last_name=last or "Customer",
                address=shipping,
                storefront_url=self.storefront_url,
            )
            self.store.add_to_cart(token, [(line.variant_external_id, line.quantity) for line in cart.lines])
            placed = self.store.place_order(
                token, campaign_code=REFERENCE_PREFIX + cart.reference, comment=cart.note or None
            )
            return self.get_order(placed["id"])

    def update_shipping_address(self, external_id: str, address: model.Address) -> model.Order:
        raw = self._order_raw(external_id)
        states = {((d.get("stateMachineState") or {}).get("technicalName")) for d in raw.get("deliveries") or []}
        order_state = (raw.get("stateMachineState") or {}).get("technicalName")
        if states & SHIPPED_STATES or order_state == "completed":
            raise OrderAlreadyShipped(
                f"Shopware order {raw.get('orderNumber')} has shipped; its address can no longer change"
            )
        missing = address.missing_fields()
        if missing:
            raise ConnectorError(f"the new address is missing: {', '.join(missing)}")
        deliveries = raw.get("deliveries") or []
        if not deliveries:
            raise ConnectorError(f"Shopware order {raw.get('orderNumber')} has no delivery to change")
        current = deliveries[0].get("shippingOrderAddress") or {}
        payload = address_payload(
            address,
            self._country_id(address.country_code),
            first_name=current.get("firstName") or "",
            last_name=current.get("lastName") or "",
        )
        if not payload["phoneNumber"]:
            payload.pop("phoneNumber")
        self.api.request("PATCH", f"/api/order-address/{deliveries[0]['shippingOrderAddressId']}", json=payload)
        return self.get_order(external_id)
