"""The WooCommerce sandbox: a local WordPress + WooCommerce REST API v3 for tests, the demo and benchmarks."""

from __future__ import annotations

import secrets
from typing import Any

from connector.sandbox.base import ShopSandbox
from connector.sandbox.images import absolute
from connector.sandbox.seed import CURRENCY, generate

from .app import Gate, Options, create_app
from .store import Store


class WooCommerceSandbox(ShopSandbox):
    """WooCommerce on ``http://127.0.0.1:<port>``, seeded from the demo catalog.

    Options: ``https`` (False: plain HTTP, so REST clients must sign with OAuth 1.0a), ``key_permissions``
    (``read``/``write``/``read_write``), ``default_per_page`` (10),
    ``max_per_page`` (100), ``rate_limit`` (requests per ``rate_limit_window`` seconds; off by default,
    as in WooCommerce core), ``currency``, ``site_name``, ``allow_local_callbacks`` (let /wc-auth/v1/ post keys to
    127.0.0.1, any port, plain HTTP: tests on one machine only; WordPress refuses them).
    """

    name = "woocommerce"

    def create_app(self) -> Any:
        opts = dict(self.options)
        self.webhook_secret = str(opts.pop("webhook_secret", None) or secrets.token_urlsafe(24))
        currency = str(opts.pop("currency", CURRENCY))
        self.settings = Options(
            consumer_key=str(opts.pop("consumer_key", None) or "ck_" + secrets.token_hex(20)),
            consumer_secret=str(opts.pop("consumer_secret", None) or "cs_" + secrets.token_hex(20)),
            **opts,
        )
        products = self.seed_products if self.seed_products is not None else generate()
        self.store = Store(products, currency=currency, webhook_secret=self.webhook_secret)
        self.gate = Gate(self.settings)
        app = create_app(self.store, self.settings, self.gate)
        self.wc_auth = app.extensions["wc_auth"]  # the /wc-auth/v1/ grant screen: keys made, callbacks answered
        return app

    def start(self) -> str:
        url = super().start()
        with self.store.lock:
            self.store.base_url = url
            for post in self.store.posts.values():  # uploads are served from the site's own URL
                post.image = absolute(url, post.image)
            self.store._json_cache.clear()  # permalinks and image URLs embed the site URL
        return url

    def stop(self) -> None:
        self.store.sender.wait_idle(5)
        super().stop()
        self.store.sender.close()

    def connection_settings(self) -> dict[str, Any]:
        return {
            "shop_url": self.url,
            "consumer_key": self.settings.consumer_key,
            "consumer_secret": self.settings.consumer_secret,
            "webhook_secret": self.webhook_secret,
        }

    def delete_order(self, order_id: str, *, force: bool = False) -> None:
        """The owner deletes an order: to the trash, or (``force``) for good, after which fetching it answers 404.
        Either way WooCommerce sends ``order.deleted`` with a body of just ``{"id": N}``."""
        self.control("POST", "delete_order", json={"order_id": order_id, "force": force})
