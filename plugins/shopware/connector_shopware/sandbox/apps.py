"""Installing an app with a backend in the sandbox shop: what the admin's Extensions > Upload extension, Install and
Activate do (docs/platforms/shopware.md, "Install by approval").

1. The zip's ``<folder>/manifest.xml`` is read; the folder must be named like ``<meta><name>``.
2. Registration: ``GET <registrationUrl>?shop-id=..&shop-url=..&timestamp=..`` (the query as core builds it, the
   shop URL unencoded) with ``shopware-app-signature`` = hex HMAC-SHA256 of that query with the manifest's secret.
   The app answers ``{proof, secret, confirmation_url}``; ``proof`` must equal HMAC(app secret, shopId + shopUrl +
   appName), else "The app provided an invalid response". An answer ``>= 400`` shows its ``error`` text.
3. Confirmation: ``POST confirmation_url`` with ``{apiKey, secretKey, timestamp, shopUrl, shopId}`` (PHP
   ``json_encode``: ``/`` escaped) signed with the **new** shop secret (``shopware-shop-signature``). Only then the
   integration's credentials and the shop secret are live.
4. The manifest's webhooks are created for the app; activating sends ``app.activated``, deactivating
   ``app.deactivated`` (the app's other webhooks stop), deleting ``app.deleted`` (the webhooks go).
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import secrets
import time
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import requests
from connector_shopware.sandbox.store import SHOPWARE_VERSION
from flask import Blueprint, Response, request

if TYPE_CHECKING:
    from connector_shopware.sandbox.store import ShopStore

INVALID_RESPONSE = "The app provided an invalid response"
#: ``Defaults::SALES_CHANNEL_TYPE_STOREFRONT``.
STOREFRONT_TYPE = "8a243080f92e4c719546314b577cf82b"


class InstallError(Exception):
    """What the admin shows the merchant when installing fails."""


@dataclass
class Manifest:
    name: str
    registration_url: str
    secret: str
    webhooks: list[dict[str, str]] = field(default_factory=list)
    permissions: list[str] = field(default_factory=list)


def read_manifest(data: bytes) -> Manifest:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise InstallError("The uploaded file is no zip archive") from None
    found = [n for n in archive.namelist() if n.count("/") == 1 and n.endswith("/manifest.xml")]
    if len(found) != 1:
        raise InstallError("The archive must hold one folder with a manifest.xml")
    try:
        root = ET.fromstring(archive.read(found[0]))
    except ET.ParseError as exc:
        raise InstallError(f"manifest.xml is not valid XML: {exc}") from None
    name = root.findtext("meta/name") or ""
    if found[0].split("/")[0] != name:
        raise InstallError("The app's folder must be named like its <meta><name>")
    for required in ("meta/author", "meta/copyright", "meta/version", "meta/license", "setup/registrationUrl"):
        if not root.findtext(required):
            raise InstallError(f"manifest.xml lacks <{required.replace('/', '><')}>")
    secret = root.findtext("setup/secret") or ""
    if not secret:
        raise InstallError("A private app with a backend needs <setup><secret> in its manifest")
    hooks = [dict(w.attrib) for w in root.findall("webhooks/webhook")]
    permissions = [f"{p.tag}:{p.text}" for p in root.findall("permissions/*")]
    return Manifest(name, root.findtext("setup/registrationUrl") or "", secret, hooks, permissions)


def _hmac(key: str, message: bytes) -> str:
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def php_json(value: dict[str, Any]) -> bytes:
    """``json_encode``: compact, ``/`` escaped as ``\\/``."""
    return json.dumps(value, separators=(",", ":")).replace("/", "\\/").encode()


#: Seconds Shopware waits for each answer of the app during the registration handshake.
APP_TIMEOUT = 5.0


def install(store: ShopStore, manifest: Manifest) -> None:
    """Register the app, confirm it, create its webhooks and activate it; :class:`InstallError` says why not."""
    shop_url, shop_id = store.base_url, store.shop_id
    # Shopware gives the app 5 s per request of the handshake (reference: onboarding.md, [sw-reg]).
    app_timeout = float(store.options.get("app_timeout", APP_TIMEOUT))
    query = f"shop-id={shop_id}&shop-url={shop_url}&timestamp={int(time.time())}"
    try:
        answer = requests.get(
            f"{manifest.registration_url}?{query}",
            headers={"shopware-app-signature": _hmac(manifest.secret, query.encode()), "sw-version": SHOPWARE_VERSION},
            timeout=app_timeout,
        )
    except requests.RequestException as exc:
        raise InstallError(f"Could not reach the app's registration URL: {exc}") from None
    try:
        body = answer.json()
    except ValueError:
        body = None
    if answer.status_code >= 400:
        raise InstallError(body.get("error") if isinstance(body, dict) and body.get("error") else INVALID_RESPONSE)
    if not isinstance(body, dict) or not all(
        isinstance(body.get(k), str) for k in ("proof", "secret", "confirmation_url")
    ):
        raise InstallError(INVALID_RESPONSE)
    expected = _hmac(manifest.secret, f"{shop_id}{shop_url}{manifest.name}".encode())
    if not hmac.compare_digest(expected, body["proof"].strip()):
        raise InstallError(INVALID_RESPONSE)
    shop_secret = body["secret"]
    api_key = "SWIA" + secrets.token_hex(12).upper()
    secret_key = secrets.token_urlsafe(40)
    confirmation = php_json(
        {
            "apiKey": api_key,
            "secretKey": secret_key,
            "timestamp": str(int(time.time())),
            "shopUrl": shop_url,
            "shopId": shop_id,
        }
    )
    # Core saves the shop secret and the integration's keys before it confirms (the app may use them while it
    # answers); a failed confirmation fails the install, which takes them back.
    with store.lock:
        previous = (store.client_id, store.client_secret, store.shop_secret)
        store.client_id, store.client_secret, store.shop_secret = api_key, secret_key, shop_secret
    try:
        confirmed = requests.post(
            body["confirmation_url"],
            data=confirmation,
            headers={
                "Content-Type": "application/json",
                "shopware-shop-signature": _hmac(shop_secret, confirmation),
                "sw-version": SHOPWARE_VERSION,
            },
            timeout=app_timeout,
        )
    except requests.RequestException as exc:
        confirmed = None
        reason = f"Could not reach the app's confirmation URL: {exc}"
    if confirmed is None or confirmed.status_code >= 400:
        with store.lock:
            store.client_id, store.client_secret, store.shop_secret = previous
        raise InstallError(reason if confirmed is None else INVALID_RESPONSE)
    with store.lock:
        store.app["name"], store.app["active"] = manifest.name, True
        for hook in manifest.webhooks:
            store.add_webhook(
                {
                    "name": hook.get("name"),
                    "eventName": hook.get("event"),
                    "url": hook.get("url"),
                    "appId": store.app["id"],
                }
            )
        store._dispatch("app.installed", [])
    set_active(store, True)


def set_active(store: ShopStore, active: bool) -> None:
    """Activate or deactivate the app: its lifecycle webhooks tell the app; a deactivated app's other webhooks stop."""
    with store.lock:
        store.app["active"] = active
        for hook in store.webhooks.values():
            if hook["appId"] == store.app["id"] and not hook["eventName"].startswith("app."):
                hook["active"] = active
        store._dispatch("app.activated" if active else "app.deactivated", [])


def blueprint(store: ShopStore) -> Blueprint:
    bp = Blueprint("shopware_sandbox_apps", __name__)

    @bp.post("/_sandbox/apps/upload")
    def upload() -> Any:
        """Upload, install and activate an app zip (the request body), as the admin does."""
        try:
            install(store, read_manifest(request.get_data()))
        except InstallError as exc:
            return Response(json.dumps({"error": str(exc)}), status=400, content_type="application/json")
        return {"ok": True}

    @bp.post("/_sandbox/apps/<action>")
    def lifecycle(action: str) -> Any:
        if action not in ("activate", "deactivate", "delete"):
            return {"error": "activate, deactivate or delete"}, 404
        if action == "delete":
            store.uninstall_app()
        else:
            set_active(store, action == "activate")
        return {"ok": True}

    @bp.post("/api/search/sales-channel")
    def search_sales_channel() -> Any:
        """The shop's storefront sales channel (what the app reads its Store API access key from)."""
        channel = {
            "id": store.sales_channel_id,
            "name": "Storefront",
            "typeId": STOREFRONT_TYPE,
            "accessKey": store.access_key,
            "active": True,
        }
        return {"total": 1, "data": [channel], "aggregations": []}

    return bp
