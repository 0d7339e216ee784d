"""Connecting a WooCommerce store by approval (``/wc-auth/v1/authorize``) instead of copying REST keys.

1. ``POST <dashboard>/connect/woocommerce/start``: the owner typed the store's address; we send them to the store's
   grant screen with a one-time state as ``user_id`` (WooCommerce echoes it back).
2. The owner clicks Approve; WooCommerce POSTs the new key to ``/onboarding/woocommerce/callback`` (public HTTPS;
   it must answer exactly 200, or WooCommerce deletes the key). We store the key with a webhook secret we generate
   ourselves (encrypted), and test the connection.
3. The owner's browser comes back to ``<dashboard>/connect/woocommerce/return``, which continues the wizard or says
   what went wrong.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, jsonify, request, session

from connector.dashboard.security import check_csrf, login_required
from connector.onboarding import states
from connector.onboarding.connect import FlowRefused, back_to_wizard, go_to, public_url, save_tested_shop, unreachable
from connector.web.context import runtime

PLATFORM = "woocommerce"
APP_NAME = "Chatshop Connector"
CALLBACK_PATH = "/onboarding/woocommerce/callback"


def normalize_store(text: str) -> str | None:
    """The store's base URL from what the owner typed (``https://`` added when missing); ``None`` when no URL."""
    value = (text or "").strip().rstrip("/")
    if value and "://" not in value:
        value = "https://" + value
    parts = urlsplit(value)
    if len(value) > 255 or parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        return None
    return value


def _reply(status: int, reason: str) -> Any:
    response = jsonify(error=reason) if status != 200 else jsonify(ok=True)
    response.status_code = status
    return response


def create_blueprints(url_prefix: str) -> list[Blueprint]:
    owner = Blueprint("connect_woocommerce", __name__, url_prefix=f"{url_prefix}/connect/woocommerce")
    public = Blueprint("woocommerce_onboarding", __name__)

    @owner.post("/start")
    @login_required
    def start() -> Any:
        """Send the owner to the store's grant screen."""
        check_csrf()
        rt = runtime()
        store = normalize_store(request.form.get("store_url", ""))
        try:
            problems = unreachable(rt)
            if problems:
                raise FlowRefused(" ".join(problems))
            if store is None:
                raise FlowRefused("Enter your store's address, e.g. https://shop.example.com")
        except FlowRefused as exc:
            return back_to_wizard(str(exc))
        state = states.issue(rt, PLATFORM, store, {"name": request.form.get("name", "")})
        session["woocommerce_state"] = state
        query = urlencode(
            {
                "app_name": APP_NAME,
                "scope": "read_write",
                "user_id": state,
                "return_url": public_url(rt, f"{url_prefix}/connect/woocommerce/return"),
                "callback_url": public_url(rt, CALLBACK_PATH),
            }
        )
        return go_to("WooCommerce", f"{store}/wc-auth/v1/authorize?{query}")

    @public.post(CALLBACK_PATH)
    def callback() -> Any:
        """WooCommerce delivers the approved key. Exactly 200 keeps it; anything else makes WooCommerce delete it."""
        rt = runtime()
        body = request.get_json(silent=True, force=True)
        if not isinstance(body, dict):
            return _reply(400, "the body must be a JSON object")
        state = str(body.get("user_id") or "")
        key, secret = body.get("consumer_key"), body.get("consumer_secret")
        if (
            not isinstance(key, str)
            or not key.startswith("ck_")
            or not isinstance(secret, str)
            or not secret.startswith("cs_")
        ):
            return _reply(400, "consumer_key / consumer_secret missing or malformed")
        if body.get("key_permissions") != "read_write":
            states.record(rt, PLATFORM, state, {"error": "The key needs read/write access."})
            return _reply(400, "the key must have read_write permissions")
        try:
            started = states.consume(rt, PLATFORM, state)
        except states.StateRefused as exc:
            return _reply(403, str(exc))
        settings = {
            "shop_url": started.subject,
            "consumer_key": key,
            "consumer_secret": secret,
            "webhook_secret": secrets.token_urlsafe(32),  # ours, never typed: signs WooCommerce's webhooks
        }
        try:
            shop_id, shop_name = save_tested_shop(
                rt, name=str(started.data.get("name") or ""), platform=PLATFORM, settings=settings
            )
        except FlowRefused as exc:  # a refused key or an unreachable REST API: say why on the return page
            states.record(rt, PLATFORM, state, {"error": f"The key arrived, but it cannot be used: {exc}"})
            return _reply(400, "the key does not work")
        states.record(rt, PLATFORM, state, {"shop_id": shop_id, "shop_name": shop_name})
        return _reply(200, "ok")

    @owner.get("/return")
    @login_required
    def came_back() -> Any:
        """The owner's browser back from the grant screen."""
        rt = runtime()
        state = request.args.get("user_id", "")
        started = states.find(rt, PLATFORM, state)
        if started is None or state != session.get("woocommerce_state"):
            return back_to_wizard("This approval was not started in this browser session: start again here.")
        if request.args.get("success") != "1":
            return back_to_wizard(started.data.get("error") or "The connection was denied in WooCommerce.")
        shop_id = started.data.get("shop_id")
        if not shop_id:
            return back_to_wizard(started.data.get("error") or "WooCommerce did not deliver the key: start again.")
        session.pop("woocommerce_state", None)
        session["wizard_shop"] = shop_id
        session["wizard_done"] = f"Connected to {started.data.get('shop_name') or started.subject}."
        return back_to_wizard()

    return [owner, public]
