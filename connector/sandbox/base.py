"""What every sandbox offers to tests, the demo and the benchmarks.

A sandbox is a Flask app that speaks a platform's wire protocol, plus a *control API* under
``/_sandbox/`` that lets tests and the demo act on the platform (change stock, ship an order, act as
a customer). The classes here run the app on a local port and wrap the control API in typed methods,
which always go over HTTP so the sandbox can equally run in another process.

Plugins contribute sandboxes through the ``connector_register_sandboxes`` hook.
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, ClassVar

import requests

from connector.sandbox.seed import SeedProduct
from connector.sandbox.server import SandboxServer

_running: set[str] = set()
_running_lock = threading.Lock()


def running_origins() -> frozenset[str]:
    """The origins (``http://127.0.0.1:<port>``) of the sandboxes running in this process."""
    with _running_lock:
        return frozenset(_running)


class Sandbox(abc.ABC):
    """A platform sandbox. Subclasses build the Flask app in :meth:`create_app`.

    :param products: the catalog a shop sandbox starts with (``None``: the demo catalog).
    :param options: sandbox-specific knobs (rate limits, page sizes, ...), documented per sandbox.
    """

    #: The adapter name this sandbox stands in for (``shopify``, ``whatsapp``, ``graph``...).
    name: ClassVar[str]
    #: ``"shop"`` or ``"channel"``.
    kind: ClassVar[str]

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, options: dict[str, Any] | None = None):
        self.options = dict(options or {})
        self._server = SandboxServer(self.create_app(), host=host, port=port)
        self._http = requests.Session()

    @abc.abstractmethod
    def create_app(self) -> Any:
        """Build the WSGI app: the platform's API plus the ``/_sandbox/`` control API."""

    @property
    def url(self) -> str:
        return self._server.url

    def start(self) -> str:
        url = self._server.start()
        with _running_lock:
            _running.add(url)
        return url

    def stop(self) -> None:
        if self._server.running:
            with _running_lock:
                _running.discard(self._server.url)
        self._server.stop()

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def control(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call the control API (``/_sandbox/<path>``) and return its JSON answer."""
        response = self._http.request(method, f"{self.url}/_sandbox/{path.lstrip('/')}", timeout=30, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    @abc.abstractmethod
    def connection_settings(self) -> dict[str, Any]:
        """Settings for the plugin's adapter to reach this sandbox (URL, tokens, webhook secret...)."""

    def subscribe_webhooks(self, callback_url: str) -> None:
        """Point the sandbox's webhooks at the connector. The default registers through the control API;
        platforms whose API registers webhooks (Shopify, WooCommerce) may be driven through the adapter instead."""
        self.control("POST", "webhooks", json={"url": callback_url})


class ShopSandbox(Sandbox):
    """A shop platform sandbox. Every change made through these methods sends the platform's webhooks."""

    kind = "shop"

    def __init__(self, *, products: Sequence[SeedProduct] | None = None, **kwargs: Any):
        self.seed_products = products
        super().__init__(**kwargs)

    # All of these go through the control API. Ids are the *canonical* external ids, as the plugin's
    # adapter reports them in Variant.external_id / product_external_id / Order.external_id.

    def variant_ids(self) -> list[str]:
        """Every variant's canonical external id."""
        return self.control("GET", "variants")["ids"]

    def set_stock(self, variant_id: str, quantity: int) -> None:
        self.control("POST", "stock", json={"variant_id": variant_id, "quantity": quantity})

    def set_price(self, variant_id: str, price: Decimal, sale_price: Decimal | None = None) -> None:
        self.control(
            "POST",
            "price",
            json={
                "variant_id": variant_id,
                "price": str(price),
                "sale_price": None if sale_price is None else str(sale_price),
            },
        )

    def set_sku(self, variant_id: str, sku: str) -> None:
        self.control("POST", "sku", json={"variant_id": variant_id, "sku": sku})

    def set_published(self, product_id: str, published: bool) -> None:
        self.control("POST", "publish", json={"product_id": product_id, "published": published})

    def delete_product(self, product_id: str) -> None:
        self.control("POST", "delete", json={"product_id": product_id})

    def ship_order(self, order_id: str, *, company: str, number: str, url: str | None = None) -> None:
        self.control("POST", "ship", json={"order_id": order_id, "company": company, "number": number, "url": url})

    def set_delivery_status(self, order_id: str, status: str) -> None:
        """Move a shipped order along: ``in_transit``, ``out_for_delivery``, ``delivered``, ``failed``, ``delayed``."""
        self.control("POST", "delivery", json={"order_id": order_id, "status": status})

    def orders(self) -> list[dict[str, Any]]:
        """Every order in the sandbox, in the platform's own JSON shape."""
        return self.control("GET", "orders")["orders"]

    def fail_next(self, count: int, status: int = 503) -> None:
        """Make the next ``count`` API requests fail with ``status`` (5xx recovery tests)."""
        self.control("POST", "faults", json={"count": count, "status": status})


class ChannelSandbox(Sandbox):
    """A messaging platform sandbox. Lets tests act as a customer and read what a customer saw."""

    kind = "channel"

    def messages_to(self, recipient: str) -> list[dict[str, Any]]:
        """Every message the sandbox accepted for ``recipient``, oldest first, as the platform received it."""
        return self.control("GET", f"messages?to={recipient}")["messages"]

    def catalog_items(self, catalog_id: str) -> list[dict[str, Any]]:
        """Every item in a catalog, as stored."""
        return self.control("GET", f"catalogs/{catalog_id}/items")["items"]
