"""Connecting a Shopify shop without copying tokens: install by approval (OAuth authorization-code grant with
expiring offline tokens), or a Dev Dashboard app of the owner's own organization (client-credentials grant).

Routes (under ``<dashboard prefix>/connect/shopify``, owner logged in):

* ``POST /start``: the owner typed the shop's domain; redirect to the shop's grant screen with a one-time ``state``.
* ``GET /callback``: Shopify sends the owner back with ``code, hmac, host, shop, state, timestamp``: the HMAC, the
  shop and the state are checked (a replayed state is refused), the code is exchanged for an expiring token, and
  the connection is stored (tokens encrypted) and tested.
* ``POST /client-credentials``: shop domain, client ID and secret of the owner's Dev Dashboard app.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connector_shopify import oauth, scopes
from flask import Blueprint, request, session

from connector.adapters import ConfigField, FieldType
from connector.dashboard.security import check_csrf, login_required
from connector.errors import PlatformError
from connector.onboarding import states
from connector.onboarding.connect import (
    FlowRefused,
    back_to_wizard,
    create_tested_shop,
    go_to,
    public_url,
    unreachable,
)
from connector.web.context import runtime

if TYPE_CHECKING:
    from connector.runtime import Runtime

PLATFORM = "shopify"
SESSION_KEY = "shopify_oauth_state"

CONFIG_FIELDS = (
    ConfigField(
        "app_client_id",
        "Shopify app client ID",
        required=False,
        default="",
        help="Client ID of your Shopify app (custom distribution) for install by approval",
    ),
    ConfigField(
        "app_client_secret",
        "Shopify app client secret",
        FieldType.SECRET,
        required=False,
        default="",
        help="The app's client secret: signs the install redirect and the webhooks",
    ),
    ConfigField(
        "admin_url_template",
        "Shop admin address",
        required=False,
        default="https://{shop}",
        help="Where a shop's OAuth endpoints are; {shop} is the shop's myshopify.com domain (change for the sandbox)",
    ),
)


def admin_base(rt: Runtime, shop: str) -> str:
    """The base URL of ``shop``'s admin (its OAuth and Admin API endpoints)."""
    template = str(rt.plugin_config(PLATFORM).get("admin_url_template") or "https://{shop}")
    return template.replace("{shop}", shop).rstrip("/")


def callback_path(rt: Runtime) -> str:
    return f"{rt.config.dashboard.url_prefix}/connect/shopify/callback"


def requested_scopes() -> list[str]:
    """Exactly what the features need: every required scope, minus reads a requested write already grants."""
    needed = list(scopes.REQUIRED)
    return [h for h in needed if not (h.startswith("read_") and "write_" + h.removeprefix("read_") in needed)]


def _app(rt: Runtime) -> tuple[str, str]:
    config = rt.plugin_config(PLATFORM)
    client_id, secret = str(config.get("app_client_id") or ""), str(config.get("app_client_secret") or "")
    if not client_id or not secret:
        raise FlowRefused(
            "Install by approval needs your Shopify app's client ID and secret in [plugins.shopify] app_client_id / "
            "app_client_secret (or use a Dev Dashboard app with client credentials below)."
        )
    return client_id, secret


def _settings(rt: Runtime, shop: str, mode: str, client_id: str, secret: str, tokens: oauth.TokenSet) -> dict[str, Any]:
    return {
        "shop_url": admin_base(rt, shop),
        "client_id": client_id,
        "client_secret": secret,
        "auth_mode": mode,
        **tokens.as_settings(),
    }


def _authorize(rt: Runtime, shop: str, client_id: str, name: str) -> str:
    """The page sending the owner to ``shop``'s grant screen, with a fresh one-time state bound to this session."""
    state = states.issue(rt, PLATFORM, shop, {"name": name})
    session[SESSION_KEY] = state
    url = oauth.authorize_url(
        admin_base(rt, shop), client_id, requested_scopes(), public_url(rt, callback_path(rt)), state
    )
    return go_to("Shopify", url)


def create_blueprint(url_prefix: str) -> Blueprint:
    bp = Blueprint("connect_shopify", __name__, url_prefix=f"{url_prefix}/connect/shopify")

    @bp.post("/start")
    @login_required
    def start() -> Any:
        """Send the owner to the shop's grant screen."""
        check_csrf()
        rt = runtime()
        try:
            problems = unreachable(rt)
            if problems:
                raise FlowRefused(" ".join(problems))
            client_id, _secret = _app(rt)
            shop = oauth.normalize_shop(request.form.get("shop", ""))
            if shop is None:
                raise FlowRefused("Enter your shop's address, e.g. your-store.myshopify.com")
        except FlowRefused as exc:
            return back_to_wizard(str(exc))
        return _authorize(rt, shop, client_id, request.form.get("name", ""))

    @bp.get("/install")
    @login_required
    def install() -> Any:
        """The app's URL: Shopify opens it with ``shop, timestamp, hmac`` when the owner installs from Shopify's side
        (an install link); verified, it continues like :func:`start`."""
        rt = runtime()
        try:
            problems = unreachable(rt)
            if problems:
                raise FlowRefused(" ".join(problems))
            client_id, secret = _app(rt)
            if not oauth.verify_query(list(request.args.items(multi=True)), secret):
                raise FlowRefused("Shopify's signature (hmac) of the install request is wrong or too old: refused.")
            shop = oauth.normalize_shop(request.args.get("shop", ""))
            if shop is None:
                raise FlowRefused("The install request names no Shopify shop.")
        except FlowRefused as exc:
            return back_to_wizard(str(exc))
        return _authorize(rt, shop, client_id, "")

    @bp.get("/callback")
    @login_required
    def callback() -> Any:
        """Shopify's redirect after the owner approved: verify, exchange the code, store and test the connection."""
        rt = runtime()
        pairs = list(request.args.items(multi=True))
        args = request.args
        try:
            client_id, secret = _app(rt)
            if not oauth.verify_query(pairs, secret):
                raise FlowRefused("Shopify's signature (hmac) of the return address is wrong or too old: refused.")
            shop = oauth.normalize_shop(args.get("shop", ""))
            state = args.get("state", "")
            if shop is None or not args.get("code"):
                raise FlowRefused("Shopify's return address lacks the shop or the code: refused.")
            if state != session.get(SESSION_KEY):
                raise FlowRefused("This approval was started in another browser session: start again here.")
            started = states.consume(rt, PLATFORM, state)
            session.pop(SESSION_KEY, None)
            if started.subject != shop:
                raise FlowRefused(f"Shopify returned for {shop}, but the approval was started for {started.subject}.")
            base = admin_base(rt, shop)
            try:
                tokens = oauth.exchange_code(base, client_id, secret, args["code"])
            except PlatformError as exc:
                raise FlowRefused(f"Shopify refused the code: {exc}") from exc
            create_tested_shop(
                rt,
                name=str(started.data.get("name") or ""),
                platform=PLATFORM,
                settings=_settings(rt, shop, "oauth", client_id, secret, tokens),
            )
        except (FlowRefused, states.StateRefused) as exc:
            return back_to_wizard(str(exc))
        return back_to_wizard()

    @bp.post("/client-credentials")
    @login_required
    def client_credentials() -> Any:
        """A Dev Dashboard app of the owner's own organization: its client ID and secret get 24-hour tokens."""
        check_csrf()
        rt = runtime()
        form = request.form
        try:
            shop = oauth.normalize_shop(form.get("shop", ""))
            client_id, secret = form.get("client_id", "").strip(), form.get("client_secret", "").strip()
            if shop is None or not client_id or not secret:
                raise FlowRefused("Enter the shop's address and the app's client ID and secret.")
            base = admin_base(rt, shop)
            try:
                tokens = oauth.client_credentials(base, client_id, secret)
            except PlatformError as exc:
                raise FlowRefused(f"Shopify refused the app's credentials: {exc}") from exc
            create_tested_shop(
                rt,
                name=form.get("name", ""),
                platform=PLATFORM,
                settings=_settings(rt, shop, "client_credentials", client_id, secret, tokens),
            )
        except FlowRefused as exc:
            return back_to_wizard(str(exc))
        return back_to_wizard()

    return bp
