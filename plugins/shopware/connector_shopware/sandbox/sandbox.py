"""The Shopware 6 sandbox as the tests, the demo and the benchmarks start it.

Options (``options=``): ``rate_limit`` (requests per second over the APIs, default unlimited like a
stock shop), ``max_limit`` (largest ``limit`` a search accepts, default 500), ``token_ttl`` (OAuth token
lifetime in seconds, default 600), ``shipping_cost`` (default ``"4.90"``), ``app_timeout`` (seconds the shop waits
for each answer of an app during its registration, default Shopware's 5), and the credentials ``client_id``,
``client_secret``, ``access_key``, ``shop_secret``, ``app_name``.
"""

from __future__ import annotations

from typing import Any

from connector_shopware.sandbox.app import create_app
from connector_shopware.sandbox.store import ShopStore

from connector.sandbox.base import ShopSandbox
from connector.sandbox.seed import generate


class ShopwareSandbox(ShopSandbox):
    """A local Shopware 6 shop: Admin API, Store API checkout, signed app webhooks and the control API."""

    name = "shopware"

    def create_app(self) -> Any:
        products = self.seed_products if self.seed_products is not None else generate()
        self.store = ShopStore(products, base_url=lambda: self.url, options=self.options)
        return create_app(self.store)

    def start(self) -> str:
        url = super().start()
        self.store.serve_images_from(url)
        return url

    def connection_settings(self) -> dict[str, Any]:
        return {
            "shop_url": self.url,
            "client_id": self.store.client_id,
            "client_secret": self.store.client_secret,
            "sales_channel_access_key": self.store.access_key,
            "webhook_secret": self.store.shop_secret,
            "app_name": self.store.app["name"],
        }

    def upload_app(self, archive: bytes) -> dict[str, Any]:
        """Upload, install and activate an app zip as the admin does: registration, confirmation, lifecycle
        webhooks. Returns ``{"ok": True}`` or ``{"error": <what the admin shows>}``."""
        response = self._http.request("POST", f"{self.url}/_sandbox/apps/upload", data=archive, timeout=60)
        return response.json()

    def set_app_active(self, active: bool) -> None:
        """Activate or deactivate the connector's app in the admin (``app.activated`` / ``app.deactivated``)."""
        self.control("POST", "apps/activate" if active else "apps/deactivate")

    def uninstall_app(self) -> None:
        """Uninstall the connector's app: Shopware sends ``app.deleted`` and drops the app's webhooks."""
        self.control("POST", "uninstall")

    def wait_webhooks(self, timeout: float = 10.0) -> bool:
        """Block until every queued webhook has been attempted (in-process sandboxes only)."""
        return self.store.sender.wait_idle(timeout)

    def stop(self) -> None:
        super().stop()
        self.store.sender.close()
