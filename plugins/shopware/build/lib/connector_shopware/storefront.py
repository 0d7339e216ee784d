"""The Store API calls a chat order needs: a guest registration, a cart, and the order.

The Store API is the shopper's API (header ``sw-access-key`` of a sales channel); a guest checkout
through it creates exactly the order a web shopper would get, with the shop's default payment and
shipping method, and a ``deepLinkCode`` for the storefront's order page where the guest pays.
"""

from __future__ import annotations

from typing import Any

from connector_shopware.client import error_detail

from connector.errors import ConnectorError, PlatformError
from connector.http import HttpClient

CONTEXT_HEADER = "sw-context-token"


class StoreApi:
    """A Store API client for one sales channel."""

    def __init__(self, shop_url: str, access_key: str):
        self.access_key = access_key
        self.http = HttpClient(
            shop_url,
            platform="Shopware Store API",
            headers={"Accept": "application/json", "Content-Type": "application/json", "sw-access-key": access_key},
            error_detail=error_detail,
        )

    def _require_key(self) -> None:
        if not self.access_key:
            raise ConnectorError("set the sales channel API access key to create chat orders in Shopware")

    def countries(self, iso: str | None = None) -> list[dict[str, Any]]:
        """Countries of the sales channel (``POST /store-api/country``), optionally one ISO code."""
        self._require_key()
        criteria: dict[str, Any] = (
            {"limit": 1} if iso is None else {"filter": [{"type": "equals", "field": "iso", "value": iso}]}
        )
        return self.http.post("/store-api/country", json=criteria, idempotent=True).json().get("elements") or []

    def country(self, iso: str) -> str | None:
        found = self.countries(iso)
        return found[0]["id"] if found else None

    def register_guest(
        self, *, email: str, first_name: str, last_name: str, address: dict[str, Any], storefront_url: str
    ) -> str:
        """Register a guest customer; returns the context token the rest of the checkout runs in."""
        self._require_key()
        response = self.http.post(
            "/store-api/account/register",
            json={
                "guest": True,
                "email": email,
                "firstName": first_name,
                "lastName": last_name,
                "acceptedDataProtection": True,
                "storefrontUrl": storefront_url,
                "billingAddress": address,
            },
        )
        token = response.headers.get(CONTEXT_HEADER)
        if not token:
            raise PlatformError(
                "Shopware registered the guest but sent no sw-context-token", status=response.status_code
            )
        return token

    def add_to_cart(self, token: str, lines: list[tuple[str, int]]) -> dict[str, Any]:
        """Put the chat cart's lines in the guest's cart. A line Shopware drops or shortens is an error, not a surprise."""
        items = [{"id": pid, "referencedId": pid, "type": "product", "quantity": qty} for pid, qty in lines]
        cart = self.http.post(
            "/store-api/checkout/cart/line-item", json={"items": items}, headers={CONTEXT_HEADER: token}
        ).json()
        got = {li.get("referencedId"): li.get("quantity") for li in cart.get("lineItems") or []}
        wanted: dict[str, int] = {}
        for pid, qty in lines:
            wanted[pid] = wanted.get(pid, 0) + qty
        short = {pid: (qty, got.get(pid, 0)) for pid, qty in wanted.items() if got.get(pid, 0) < qty}
        if short:
            errors = cart.get("errors") or {}
            messages = sorted({e.get("message", "") for e in (errors.values() if isinstance(errors, dict) else errors)})
            detail = ", ".join(f"{pid}: wanted {w}, got {g}" for pid, (w, g) in short.items())
            raise PlatformError(
                f"Shopware would not put every line in the cart ({detail}; {', '.join(messages)})", status=400
            )
        return cart

    def place_order(self, token: str, *, campaign_code: str, comment: str | None) -> dict[str, Any]:
        """Turn the cart into an order. Not retried on 5xx: the caller looks the reference up again first."""
        body: dict[str, Any] = {"campaignCode": campaign_code}
        if comment:
            body["customerComment"] = comment
        return self.http.post("/store-api/checkout/order", json=body, headers={CONTEXT_HEADER: token}).json()
