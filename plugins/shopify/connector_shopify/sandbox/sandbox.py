"""``ShopifySandbox``: the local Shopify shop the plugin is tested against."""

from __future__ import annotations

from typing import Any

from connector_shopify.sandbox.access import DEFAULT_SCOPES, parse_scopes
from connector_shopify.sandbox.api import ShopApi
from connector_shopify.sandbox.app import create_app
from connector_shopify.sandbox.store import Store
from connector_shopify.sandbox.versions import SUPPORTED

from connector.sandbox.base import ShopSandbox
from connector.sandbox.seed import generate

DEFAULTS: dict[str, Any] = {
    "access_token": "shpat_sandbox0123456789abcdef",
    "client_secret": "shpss_sandbox_client_secret",
    "api_version": "2026-10",  # the version the connector is told to use; also stamped on webhooks
    "supported_versions": list(SUPPORTED),  # stable versions served; any other falls forward to the oldest
    "shop_domain": "chatshop-sandbox.myshopify.com",
    "bucket_size": 1000,  # Standard plan; Plus and above: 2000
    "restore_rate": 100,  # points per second (Standard 100, Advanced 200, Plus 1000)
    "max_query_cost": 1000,
    "max_page_size": 250,
    "throttle_status": 200,  # Shopify historically answers THROTTLED with 200; 429 is seen too
    "access_scopes": list(DEFAULT_SCOPES),  # granted to the token: everything the connector needs
    "client_id": "sandbox-client-id",  # the app's client ID (its client secret is client_secret)
    "redirect_urls": [],  # the app's allowed redirection URLs (the authorize screen refuses others)
    "code_ttl": 60,  # seconds an authorization code works
}


class ShopifySandbox(ShopSandbox):
    """A Shopify shop speaking the Admin GraphQL API.

    Options (``options=``): ``access_token``, ``client_secret``, ``api_version``, ``shop_domain``,
    ``bucket_size`` (maximumAvailable), ``restore_rate`` (points/s), ``max_query_cost``,
    ``max_page_size``, ``throttle_status`` (200 or 429 for THROTTLED answers), ``access_scopes``
    (the scopes granted to the token, a list or comma-separated string; ``write_X`` implies ``read_X``),
    ``supported_versions`` (stable versions served as themselves; any other well-formed version falls forward
    to the oldest of them, as Shopify does), and for install by approval ``client_id``, ``redirect_urls`` (the
    app's allow-list) and ``code_ttl``.
    """

    name = "shopify"

    def create_app(self) -> Any:
        opts = {**DEFAULTS, **self.options}
        self.options = opts
        products = self.seed_products if self.seed_products is not None else generate()
        self.store = Store(products, shop_domain=opts["shop_domain"])
        self.api = ShopApi(
            self.store,
            access_token=opts["access_token"],
            client_secret=opts["client_secret"],
            api_version=opts["api_version"],
            bucket_size=float(opts["bucket_size"]),
            restore_rate=float(opts["restore_rate"]),
            max_query_cost=int(opts["max_query_cost"]),
            max_page_size=int(opts["max_page_size"]),
            throttle_status=int(opts["throttle_status"]),
            access_scopes=parse_scopes(opts["access_scopes"]),
            supported_versions=list(opts["supported_versions"]),
        )
        self.api.oauth.client_id = opts["client_id"]
        self.api.oauth.redirect_urls = list(opts["redirect_urls"])
        self.api.oauth.code_ttl = float(opts["code_ttl"])
        return create_app(self.api)

    def start(self) -> str:
        url = super().start()
        self.store.base_url = url
        self.store.serve_images_from(url)
        return url

    def connection_settings(self) -> dict[str, Any]:
        return {
            "shop_url": self.url,
            "access_token": self.options["access_token"],
            "client_secret": self.options["client_secret"],
            "api_version": self.options["api_version"],
        }

    def throttle(self, points: float | None = None) -> dict[str, Any]:
        """Drain the cost bucket (by ``points``, default all of it); returns the new throttle status."""
        return self.control("POST", "throttle", json={} if points is None else {"points": points})

    def set_access_scopes(self, scopes: list[str]) -> list[str]:
        """Grant the token exactly ``scopes`` from now on (as if the merchant changed the app's scopes)."""
        return self.control("POST", "access_scopes", json={"scopes": scopes})["access_scopes"]

    def configure_app(self, **settings: Any) -> None:
        """Change the app's Dev Dashboard settings: ``redirect_urls``, ``compliance_url``, ``client_credentials``."""
        self.control("POST", "oauth/app", json=settings)

    def expire_tokens(self) -> None:
        """Expire every access token issued by OAuth now, as if an hour passed."""
        self.control("POST", "oauth/expire")

    def send_compliance(self, topic: str, **payload: Any) -> None:
        """Send a compliance webhook (``customers/redact``...) to the app's compliance URL."""
        self.control("POST", "compliance", json={"topic": topic, **payload})

    def uninstall(self) -> None:
        """Send ``app/uninstalled`` as if the merchant removed the app."""
        self.control("POST", "uninstall")

    def start_checkout(self, lines: dict[str, int], **customer: Any) -> dict[str, Any]:
        """A customer starts a checkout (``checkouts/create``): ``lines`` maps variant ids to quantities;
        ``customer``: ``phone``, ``email``, ``first_name``, ``last_name``, ``country_code``, ``locale``. Returns the
        webhook's REST checkout body and the checkout's ``id`` (its GID)."""
        items = [{"variant_id": variant, "quantity": quantity} for variant, quantity in lines.items()]
        return dict(self.control("POST", "checkouts", json={"lines": items, **customer}))

    def update_checkout(self, checkout_id: str, lines: dict[str, int]) -> dict[str, Any]:
        """The customer changes the cart (``checkouts/update``)."""
        items = [{"variant_id": variant, "quantity": quantity} for variant, quantity in lines.items()]
        return dict(self.control("POST", "checkouts/update", json={"checkout_id": checkout_id, "lines": items}))

    def complete_checkout(self, checkout_id: str) -> dict[str, Any]:
        """The customer pays the checkout: its paid order, and ``checkouts/update`` with ``completed_at``."""
        return dict(self.control("POST", "checkouts/complete", json={"checkout_id": checkout_id}))

    def stop(self) -> None:
        super().stop()
        self.api.sender.close()
