"""Shopware's app registration handshake, our side (docs/platforms/shopware.md, "Install by approval").

* The connector hands out an app zip whose manifest names our registration URL, our app secret and the lifecycle
  webhooks; the merchant uploads, installs and activates it.
* ``GET /onboarding/shopware/register``: checked against ``shopware-app-signature`` (hex HMAC-SHA256 of the raw
  query with the app secret) and the timestamp; we answer the proof (HMAC of shopId + shopUrl + app name), a new
  per-shop secret and the confirmation URL.
* ``POST /onboarding/shopware/confirm``: signed with that new shop secret; carries the integration's API key and
  secret. We store the connection (secrets encrypted), read the storefront's Store API access key, and test it.
* ``POST /onboarding/shopware/lifecycle/<activated|deactivated|deleted>``: signed with the shop secret; keeps the
  connection's state true.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import secrets
import time
import zipfile
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import select

from connector.adapters import ConfigField, FieldType
from connector.dashboard.security import login_required
from connector.db.models import PluginSetting, ShopConnection
from connector.errors import ConnectionTestError, PlatformError, SettingsError
from connector.onboarding import lifecycle, states
from connector.onboarding.connect import public_url
from connector.web.context import runtime

if TYPE_CHECKING:
    from connector.runtime import Runtime

PLATFORM = "shopware"
PREFIX = "/onboarding/shopware"
#: Registration requests older than this are refused as replays (Shopware waits 5 s for the answer).
MAX_AGE = 300
STOREFRONT_TYPE = "8a243080f92e4c719546314b577cf82b"
PERMISSIONS = (
    ("read", "product"),
    ("read", "product_media"),
    ("read", "media"),
    ("read", "currency"),
    ("read", "sales_channel"),
    ("read", "order"),
    ("update", "order_address"),
    ("read", "order_delivery"),
    ("read", "webhook"),
    ("create", "webhook"),
    ("delete", "webhook"),
)

CONFIG_FIELDS = (
    ConfigField("app_name", "Shopware app name", required=False, default="ChatshopConnector"),
    ConfigField(
        "app_secret",
        "Shopware app secret",
        FieldType.SECRET,
        required=False,
        default="",
        help="Signs the app's registration; generated on the first download of the app zip when empty",
    ),
)


def _hmac(key: str, message: bytes) -> str:
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def app_identity(rt: Runtime) -> tuple[str, str]:
    """The app's name and secret; a secret is generated (and stored encrypted) the first time one is needed."""
    config = rt.plugin_config(PLATFORM)
    name = str(config.get("app_name") or "ChatshopConnector")
    secret = str(config.get("app_secret") or "")
    if not secret:
        secret = secrets.token_urlsafe(48)
        with rt.db.session() as session:
            session.add(PluginSetting(plugin=PLATFORM, key="app_secret", secret=rt.secrets.encrypt(secret)))
    return name, secret


def manifest_zip(rt: Runtime) -> tuple[str, bytes]:
    """The app zip the merchant uploads: ``<name>/manifest.xml``."""
    name, secret = app_identity(rt)
    url = lambda path: escape(public_url(rt, f"{PREFIX}/{path}"))  # noqa: E731
    permissions = "".join(f"<{verb}>{entity}</{verb}>" for verb, entity in PERMISSIONS)
    hooks = "".join(
        f'<webhook name="app{event.capitalize()}" url="{url("lifecycle/" + event)}" event="app.{event}"/>'
        for event in ("activated", "deactivated", "deleted")
    )
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<manifest xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:noNamespaceSchemaLocation='
        '"https://raw.githubusercontent.com/shopware/shopware/trunk/src/Core/Framework/App/Manifest/Schema/manifest-3.0.xsd">'
        f"<meta><name>{escape(name)}</name><label>Chatshop Connector</label><author>Chatshop Connector</author>"
        "<copyright>(c) Chatshop Connector</copyright><version>1.0.0</version><license>Apache-2.0</license></meta>"
        f"<setup><registrationUrl>{url('register')}</registrationUrl><secret>{escape(secret)}</secret></setup>"
        f"<permissions>{permissions}</permissions><webhooks>{hooks}</webhooks></manifest>"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{name}/manifest.xml", xml)
    return name, buffer.getvalue()


def _error(status: int, message: str) -> Response:
    response = jsonify(error=message)
    response.status_code = status
    return response


def _connection_for(rt: Runtime, shop_id: str) -> ShopConnection | None:
    with rt.db.session() as session:
        for row in session.scalars(select(ShopConnection).where(ShopConnection.platform == PLATFORM)):
            if (row.settings or {}).get("shop_id") == shop_id:
                return row
    return None


def _storefront_key(shop_url: str, api_key: str, secret_key: str) -> str:
    from connector_shopware.client import AdminApi

    api = AdminApi(shop_url, api_key, secret_key)
    found = api.search("sales-channel", {"filter": [{"type": "equals", "field": "typeId", "value": STOREFRONT_TYPE}]})
    channels = [c for c in found.get("data", []) if isinstance(c, dict) and c.get("accessKey")]
    if not channels:
        raise PlatformError("the shop has no storefront sales channel to place chat orders through")
    return str(channels[0]["accessKey"])


def create_blueprints(url_prefix: str) -> list[Blueprint]:
    owner = Blueprint("connect_shopware", __name__, url_prefix=f"{url_prefix}/connect/shopware")
    public = Blueprint("shopware_onboarding", __name__, url_prefix=PREFIX)

    @owner.get("/manifest")
    @login_required
    def manifest() -> Any:
        """Download the app zip to upload in the Shopware admin."""
        name, data = manifest_zip(runtime())
        return Response(
            data,
            content_type="application/zip",
            headers={"Content-Disposition": f'attachment; filename="{name}.zip"'},
        )

    @public.get("/register")
    def register() -> Any:
        """Shopware registers a shop installing our app: verify its signature, answer our proof and a secret."""
        rt = runtime()
        name, app_secret = app_identity(rt)
        raw = request.query_string
        signature = request.headers.get("shopware-app-signature", "")
        if not hmac.compare_digest(_hmac(app_secret, raw), signature.strip().lower()):
            return _error(401, "The registration request's signature is wrong.")
        shop_id, shop_url = request.args.get("shop-id", ""), request.args.get("shop-url", "")
        try:
            stamp = int(request.args.get("timestamp", ""))
        except ValueError:
            return _error(400, "The registration request lacks its timestamp.")
        if abs(time.time() - stamp) > MAX_AGE:
            return _error(400, "The registration request is too old.")
        if not shop_id or len(shop_id) > 64 or len(shop_url) > 255 or not shop_url.startswith(("https://", "http://")):
            return _error(400, "The shop URL is invalid")
        shop_secret = secrets.token_urlsafe(48)  # 64 characters: Shopware wants 64-255
        state = states.issue(
            rt, PLATFORM, shop_id, {"shop_url": shop_url, "shop_secret": rt.secrets.encrypt(shop_secret)}
        )
        return jsonify(
            proof=_hmac(app_secret, f"{shop_id}{shop_url}{name}".encode()),
            secret=shop_secret,
            confirmation_url=public_url(rt, f"{PREFIX}/confirm?registration={state}"),
        )

    @public.post("/confirm")
    def confirm() -> Any:
        """Shopware confirms with the integration's credentials, signed with the shop secret we gave it."""
        rt = runtime()
        state = request.args.get("registration", "")
        try:
            started = states.peek(rt, PLATFORM, state)
        except states.StateRefused as exc:
            return _error(403, str(exc))
        shop_secret = str(rt.secrets.decrypt(started.data["shop_secret"]))
        signature = request.headers.get("shopware-shop-signature", "")
        if not hmac.compare_digest(_hmac(shop_secret, request.get_data()), signature.strip().lower()):
            return _error(401, "The confirmation's signature is wrong.")
        body = request.get_json(silent=True, force=True)
        if not isinstance(body, dict) or not all(
            isinstance(body.get(k), str) for k in ("apiKey", "secretKey", "shopId")
        ):
            return _error(400, "The confirmation lacks apiKey, secretKey or shopId.")
        if body["shopId"] != started.subject:
            return _error(400, "The confirmation is for another shop.")
        try:
            states.consume(rt, PLATFORM, state)
        except states.StateRefused as exc:
            return _error(403, str(exc))
        shop_url = str(started.data["shop_url"])
        name, _ = app_identity(rt)
        try:
            settings = {
                "shop_url": shop_url,
                "client_id": body["apiKey"],
                "client_secret": body["secretKey"],
                "sales_channel_access_key": _storefront_key(shop_url, body["apiKey"], body["secretKey"]),
                "webhook_secret": shop_secret,
                "app_name": name,
                "shop_id": started.subject,
            }
            existing = _connection_for(rt, started.subject)
            if existing is not None:  # re-registration: new credentials and secret for the same connection
                rt.connections.update_settings("shop", existing.id, settings)
                row_id = existing.id
            else:
                row_id = rt.connections.create_shop(name="", platform=PLATFORM, settings=settings).id
        except (PlatformError, SettingsError) as exc:
            return _error(400, f"The connector could not use the shop's credentials: {exc}")
        try:
            rt.connections.test("shop", row_id)
        except ConnectionTestError as exc:
            if existing is None:
                rt.connections.delete("shop", row_id)
            else:
                rt.connections.update_settings("shop", row_id, rt.connections.settings_of(existing))
            return _error(400, f"The connector could not use the shop's credentials: {exc}")
        lifecycle.set_state(rt, row_id, enabled=True, note=None)
        return Response(status=204)

    @public.post("/lifecycle/<event>")
    def lifecycle_event(event: str) -> Any:
        """``app.activated`` / ``app.deactivated`` / ``app.deleted``: keep the connection's state true."""
        if event not in ("activated", "deactivated", "deleted"):
            return _error(404, "unknown lifecycle event")
        rt = runtime()
        body = request.get_json(silent=True, force=True)
        source = body.get("source") if isinstance(body, dict) else None
        shop_id = source.get("shopId") if isinstance(source, dict) else None
        if not isinstance(shop_id, str):
            return _error(400, "The body lacks source.shopId.")
        row = _connection_for(rt, shop_id)
        if row is None:
            return _error(404, "No connection for this shop.")
        secret = str(rt.connections.settings_of(row).get("webhook_secret") or "")
        signature = request.headers.get("shopware-shop-signature", "")
        if not secret or not hmac.compare_digest(_hmac(secret, request.get_data()), signature.strip().lower()):
            return _error(401, "shopware-shop-signature does not match the body.")
        if event == "activated":
            lifecycle.set_state(rt, row.id, enabled=True, note=None)
        elif event == "deactivated":
            lifecycle.set_state(rt, row.id, enabled=False, note=lifecycle.note("The app was deactivated in the shop"))
        else:
            data = body.get("data") if isinstance(body, dict) else None
            payload = data.get("payload") if isinstance(data, dict) else None
            keep = isinstance(payload, dict) and bool(payload.get("keepUserData"))
            what = "The app was removed from the shop" + (" (the shop keeps its data)" if keep else "")
            lifecycle.set_state(rt, row.id, enabled=False, note=lifecycle.note(what))
        return Response(status=204)

    return [owner, public]
