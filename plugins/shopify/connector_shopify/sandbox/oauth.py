"""The sandbox shop's OAuth server: the grant screen, the token endpoint's grants, expiring tokens, and the app's
mandatory compliance webhooks.

As Shopify documents it (docs/platforms/shopify.md, "Install by approval"):

* ``GET /admin/oauth/authorize`` checks ``client_id`` and that ``redirect_uri`` is on the app's allow-list
  ("redirect_uri is not whitelisted" otherwise) and shows the install screen; approving redirects to
  ``redirect_uri`` with ``code, hmac, host, shop, state, timestamp`` (hex HMAC-SHA256 of the sorted query, keyed
  with the client secret).
* ``POST /admin/oauth/access_token`` (JSON or form): the code grant (a code works once, for ``code_ttl`` seconds;
  ``expiring=1`` gives a 1-hour token and a 90-day refresh token), ``grant_type=refresh_token`` (rotates: the old
  refresh token stays usable until the new one is used) and ``grant_type=client_credentials`` (24-hour token, no
  refresh token). Errors are OAuth-style 400s: ``invalid_client``, ``invalid_grant``, ``invalid_request``.
* Only one expiring offline token per app and shop: issuing one revokes the earlier ones. An expired or revoked
  token gets 401 on the Admin API; uninstalling revokes every token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from flask import Blueprint, Response, redirect, request

if TYPE_CHECKING:
    from connector_shopify.sandbox.api import ShopApi

ACCESS_TTL = 3600
CLIENT_CREDENTIALS_TTL = 86399
REFRESH_TTL = 90 * 24 * 3600
#: How long an authorization code works. Shopify's value is not documented; a minute is what its SDKs allow for state.
CODE_TTL = 60
COMPLIANCE_TOPICS = ("customers/data_request", "customers/redact", "shop/redact")


@dataclass
class _Code:
    scopes: list[str]
    redirect_uri: str
    expires: float
    used: bool = False


@dataclass
class _Refresh:
    expires: float
    successor: str | None = None
    retired: bool = False


@dataclass
class OAuthServer:
    """Tokens, codes and the app's configuration. ``lock`` guards it."""

    client_id: str
    client_secret: str
    app_name: str = "Chatshop Connector"
    redirect_urls: list[str] = field(default_factory=list)
    compliance_url: str | None = None
    code_ttl: float = CODE_TTL
    access_ttl: float = ACCESS_TTL
    client_credentials: bool = True  # the app belongs to the organization owning the store
    lock: threading.Lock = field(default_factory=threading.Lock)
    codes: dict[str, _Code] = field(default_factory=dict)
    access: dict[str, float] = field(default_factory=dict)  # token -> expiry (unix time)
    refresh: dict[str, _Refresh] = field(default_factory=dict)
    issued: list[dict[str, Any]] = field(default_factory=list)  # every token response (tests read it)

    def accepts(self, token: str) -> bool:
        with self.lock:
            expires = self.access.get(token)
        return expires is not None and expires > time.time()

    def signed_query(self, params: dict[str, str]) -> str:
        message = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
        digest = hmac.new(self.client_secret.encode(), message.encode(), hashlib.sha256).hexdigest()
        return urlencode({**params, "hmac": digest})

    def _issue(self, ttl: float, *, with_refresh: bool) -> dict[str, Any]:
        now = time.time()
        token = "shpat_" + secrets.token_hex(16)
        self.access = {}  # one token per app and shop: a new one revokes the earlier ones
        self.access[token] = now + ttl
        body: dict[str, Any] = {"access_token": token, "expires_in": int(ttl)}
        if with_refresh:
            rt = "shprt_" + secrets.token_hex(16)
            self.refresh[rt] = _Refresh(now + REFRESH_TTL)
            body["refresh_token"] = rt
        self.issued.append(body)
        return body

    def revoke_all(self) -> None:
        with self.lock:
            self.access.clear()
            self.refresh.clear()
            self.codes.clear()

    def expire_access_tokens(self) -> None:
        """As if an hour passed: every access token is expired (refresh tokens still work)."""
        with self.lock:
            self.access = {token: 0.0 for token in self.access}


def _error(error: str, description: str, status: int = 400) -> Response:
    return Response(
        json.dumps({"error": error, "error_description": description}), status=status, content_type="application/json"
    )


def _page(title: str, body: str, status: int = 200) -> Response:
    return Response(
        f"<!doctype html><html><head><title>{html.escape(title)}</title></head><body>{body}</body></html>",
        status=status,
        content_type="text/html; charset=utf-8",
    )


def blueprint(api: ShopApi, server: OAuthServer) -> Blueprint:
    bp = Blueprint("shopify_sandbox_oauth", __name__)
    store = api.store

    def shop_name() -> str:
        return store.shop_domain.split(".")[0]

    @bp.get("/admin/oauth/authorize")
    def authorize() -> Response:
        args = request.args
        if args.get("client_id") != server.client_id:
            return _page("Oauth error", "<h1>Oauth error invalid_request: Invalid client_id</h1>", 400)
        redirect_uri = args.get("redirect_uri", "")
        if redirect_uri not in server.redirect_urls:
            return _page(
                "Oauth error", "<h1>Oauth error invalid_request: The redirect_uri is not whitelisted</h1>", 400
            )
        scopes = [s.strip() for s in args.get("scope", "").split(",") if s.strip()]
        items = "".join(f"<li>{html.escape(s)}</li>" for s in scopes)
        hidden = "".join(
            f'<input type="hidden" name="{name}" value="{html.escape(args.get(name, ""))}">'
            for name in ("client_id", "scope", "redirect_uri", "state")
        )
        return _page(
            f"Install {server.app_name}",
            f"<h1>Install {html.escape(server.app_name)}</h1><p>on {html.escape(store.shop_domain)}</p>"
            f"<p>This app will be able to:</p><ul id='scopes'>{items}</ul>"
            f"<form method='post' action='/admin/oauth/authorize'>{hidden}"
            f"<button type='submit' id='install-app'>Install app</button></form>",
        )

    @bp.post("/admin/oauth/authorize")
    def approve() -> Any:
        form = request.form
        redirect_uri = form.get("redirect_uri", "")
        if form.get("client_id") != server.client_id or redirect_uri not in server.redirect_urls:
            return _page("Oauth error", "<h1>Oauth error invalid_request</h1>", 400)
        code = secrets.token_hex(16)
        scopes = [s.strip() for s in form.get("scope", "").split(",") if s.strip()]
        with server.lock:
            server.codes[code] = _Code(scopes, redirect_uri, time.time() + server.code_ttl)
        host = base64.b64encode(f"admin.shopify.com/store/{shop_name()}".encode()).decode().rstrip("=")
        params = {
            "code": code,
            "host": host,
            "shop": store.shop_domain,
            "state": form.get("state", ""),
            "timestamp": str(int(time.time())),
        }
        return redirect(f"{redirect_uri}?{server.signed_query(params)}")

    @bp.post("/admin/oauth/access_token")
    def access_token() -> Response:
        body: Any = request.get_json(silent=True) if request.is_json else request.form.to_dict()
        if not isinstance(body, dict):
            return _error("invalid_request", "The request body could not be parsed")
        if body.get("client_id") != server.client_id or not hmac.compare_digest(
            str(body.get("client_secret") or ""), server.client_secret
        ):
            return _error("invalid_client", "Client authentication failed")
        grant = body.get("grant_type")
        now = time.time()
        with server.lock:
            if grant is None and body.get("code"):
                code = server.codes.get(str(body["code"]))
                if code is None or code.used or code.expires < now:
                    return _error("invalid_grant", "The authorization code is invalid or expired")
                code.used = True
                expiring = str(body.get("expiring", "0")) == "1"
                issued = server._issue(server.access_ttl if expiring else 10 * 365 * 86400, with_refresh=expiring)
                if not expiring:
                    issued.pop("expires_in")
                api.access_scopes = code.scopes
                issued["scope"] = ",".join(code.scopes)
            elif grant == "refresh_token":
                rt = str(body.get("refresh_token") or "")
                entry = server.refresh.get(rt)
                if entry is None or entry.retired or entry.expires < now:
                    return _error("invalid_grant", "The refresh token is invalid or expired")
                for other in server.refresh.values():  # using a successor retires its predecessor
                    if other.successor == rt:
                        other.retired = True
                issued = server._issue(server.access_ttl, with_refresh=True)
                entry.successor = issued["refresh_token"]
                issued["scope"] = ",".join(api.access_scopes)
            elif grant == "client_credentials":
                if not server.client_credentials:
                    return _error(
                        "unauthorized_client",
                        "Client credentials are only for apps installed in stores of the developer's organization",
                    )
                issued = server._issue(CLIENT_CREDENTIALS_TTL, with_refresh=False)
                issued["scope"] = ",".join(api.access_scopes)
            else:
                return _error("unsupported_grant_type", f"Unsupported grant type {grant!r}")
        return Response(json.dumps(issued), content_type="application/json")

    @bp.post("/_sandbox/oauth/app")
    def configure_app() -> Any:
        """The Dev Dashboard's app settings: allowed redirection URLs and the compliance webhooks' URL."""
        data = request.get_json(silent=True) or {}
        with server.lock:
            if "redirect_urls" in data:
                server.redirect_urls = [str(u) for u in data["redirect_urls"]]
            if "compliance_url" in data:
                server.compliance_url = str(data["compliance_url"]) or None
            if "client_credentials" in data:
                server.client_credentials = bool(data["client_credentials"])
        return {"ok": True}

    @bp.post("/_sandbox/oauth/expire")
    def expire() -> Any:
        server.expire_access_tokens()
        return {"ok": True}

    @bp.get("/_sandbox/oauth/issued")
    def issued() -> Any:
        with server.lock:
            return {"issued": list(server.issued), "live": [t for t, e in server.access.items() if e > time.time()]}

    @bp.post("/_sandbox/compliance")
    def compliance() -> Any:
        """Send a mandatory compliance webhook (``customers/data_request``, ``customers/redact``, ``shop/redact``)
        to the app's compliance URL, signed like every Shopify webhook."""
        data = request.get_json(silent=True) or {}
        topic = data.get("topic")
        if topic not in COMPLIANCE_TOPICS:
            return {"error": f"topic must be one of {COMPLIANCE_TOPICS}"}, 400
        if not server.compliance_url:
            return {"error": "the app has no compliance webhook URL"}, 409
        payload: dict[str, Any] = {"shop_id": 1, "shop_domain": store.shop_domain}
        customer = data.get("customer") or {}
        if topic == "customers/data_request":
            payload.update(customer=customer, orders_requested=data.get("orders", []), data_request={"id": 9999})
        elif topic == "customers/redact":
            payload.update(customer=customer, orders_to_redact=data.get("orders", []))
        body = json.dumps(payload).encode()
        api.sender.send(server.compliance_url, body, api.webhook_headers(topic, body, str(uuid.uuid4())))
        return {"ok": True}

    return bp
