"""Meta's side of Embedded Signup (v4) and Facebook Login for Business, as the Graph sandbox serves it.

* ``GET /<v>/dialog/oauth``: the consent window (a plain page). Checks ``client_id``, ``config_id`` and the
  ``redirect_uri`` (HTTPS, or loopback as in an app in development mode; exactly one of ``oauth_redirect_uris``
  when that option is set: Strict Mode). On "Continue" it ``postMessage``s the ``WA_EMBEDDED_SIGNUP`` event of
  onboarding.md §4.5 to its opener and redirects to ``redirect_uri?code=...&state=...``; "Cancel" posts the
  ``CANCEL`` event and redirects with ``error=access_denied``.
* ``GET /<v>/oauth/access_token``: the code exchange. A code lives 30 seconds (sandbox time) and works once;
  a wrong ``client_secret`` or ``redirect_uri`` is refused as Meta refuses it.
* ``GET /<v>/debug_token``: what a token may touch (``granular_scopes`` with the WABA's and catalog's ids).
* The asset endpoints the connector calls afterwards: ``/<WABA>/subscribed_apps`` (GET/POST/DELETE; an
  ``override_callback_uri`` runs the ``hub.challenge`` handshake first), ``/<WABA>/phone_numbers``,
  ``/<PN>/register`` (6-digit PIN, 10 attempts per 72 h), ``/<PN>/smb_app_data`` (coexistence: once per sync
  type, within 24 h), ``/<WABA>/product_catalogs`` (GET/POST), ``/me/accounts``, ``/<PAGE>/subscribed_apps``
  and ``/<APP>/subscriptions`` (the app's default callback for Page and Instagram webhooks).
"""

from __future__ import annotations

import hmac
import html
import json
import re
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from connector_meta.sandbox.errors import GraphError, invalid_parameter, unknown_object
from connector_meta.sandbox.events import VerificationFailed, WebhookHub
from connector_meta.sandbox.graph import request_params as _params
from connector_meta.sandbox.state import GraphState
from flask import Blueprint, Response, jsonify, request

#: Seconds an authorization code from the Embedded Signup popup can be exchanged (onboarding.md §4.5).
CODE_TTL = 30.0
#: ``/register`` attempts per number within ``REGISTER_WINDOW`` (R: 10 per 72 h).
REGISTER_ATTEMPTS = 10
REGISTER_WINDOW = 72 * 3600.0
#: Coexistence: the history and contact syncs must be asked for within 24 h of onboarding, once each.
SYNC_WINDOW = 24 * 3600.0
SYNC_TYPES = ("smb_app_state_sync", "history")
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
PAGE_FIELDS = {
    "messages",
    "messaging_postbacks",
    "messaging_optins",
    "messaging_referrals",
    "message_deliveries",
    "message_reads",
    "message_echoes",
    "message_reactions",
    "messaging_handovers",
    "standby",
    "feed",
}


@dataclass
class IssuedCode:
    """One authorization code handed to the redirect: single use, 30 s."""

    code: str
    issued_at: float
    redirect_uri: str
    config_id: str
    assets: dict[str, Any]
    used: bool = False


@dataclass
class SignupState:
    """What the signup side remembers (under the Graph state's lock)."""

    codes: dict[str, IssuedCode] = field(default_factory=dict)
    #: token -> the assets it was granted (``waba_id``, ``phone_number_id``, ``catalog_ids``, ``page_ids``...).
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: page token -> page id.
    page_tokens: dict[str, str] = field(default_factory=dict)
    waba_subscription: dict[str, Any] | None = None
    page_subscriptions: dict[str, list[str]] = field(default_factory=dict)
    app_subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    register_attempts: dict[str, list[float]] = field(default_factory=dict)
    registered: dict[str, str] = field(default_factory=dict)
    #: phone number id -> when it was onboarded with the WhatsApp Business app (coexistence).
    coexistence: dict[str, float] = field(default_factory=dict)
    syncs: dict[str, dict[str, str]] = field(default_factory=dict)
    connected_catalogs: list[str] = field(default_factory=list)


def oauth_error(message: str, code: int, subcode: int | None = None, status: int = 400) -> Response:
    """An OAuth error as Graph sends it: no ``(#code)`` prefix, ``WWW-Authenticate`` for bad codes."""
    error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    error["fbtrace_id"] = "A" + secrets.token_urlsafe(15)
    response = jsonify({"error": error})
    response.status_code = status
    if code == 100 and subcode is not None:
        response.headers["WWW-Authenticate"] = f'OAuth "Facebook Platform" "invalid_code" "{message}"'
    return response


def error_page(title: str, text: str, status: int = 400) -> Response:
    body = f"<!doctype html><title>{html.escape(title)}</title><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p>"
    return Response(body, status=status, mimetype="text/html")


def redirect_allowed(uri: str, allowed: list[str]) -> bool:
    """Valid OAuth redirect URIs: HTTPS (Enforce HTTPS), loopback for development; exact match in Strict Mode."""
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    if parts.scheme == "http" and parts.hostname not in LOOPBACK:
        return False
    return uri in allowed if allowed else True


def signup_blueprint(state: GraphState, hub: WebhookHub, signup: SignupState) -> Blueprint:
    """The consent window, the code exchange and the onboarding endpoints (see the module docstring)."""
    bp = Blueprint("graph_signup", __name__)
    business = state.business

    @bp.errorhandler(GraphError)
    def _graph_error(error: GraphError) -> Response:
        return error.response()

    def numbers() -> dict[str, str]:
        return {business.phone_number_id: business.display_phone_number, **state.options.portfolio_phone_numbers}

    def app_token_ok(token: str | None) -> bool:
        expected = f"{business.app_id}|{business.app_secret}"
        return token is not None and hmac.compare_digest(token.encode(), expected.encode())

    def bearer() -> str | None:
        header = request.headers.get("Authorization", "")
        if header[:7].lower() == "bearer ":
            return header[7:].strip()
        return request.args.get("access_token") or request.form.get("access_token")

    def granted(asset: str) -> dict[str, Any]:
        """The assets of the request's token; 190 for an unknown token, 200 when ``asset`` was not granted."""
        token = bearer()
        with state.lock:
            assets = signup.tokens.get(token or "")
            if (
                assets is None
                and token is not None
                and hmac.compare_digest(token.encode(), business.access_token.encode())
            ):
                assets = demo_assets()
        if assets is None:
            raise GraphError(190, "Invalid OAuth access token - Cannot parse access token")
        if asset not in assets.get("granted", ()):
            raise GraphError(
                200,
                "Permissions error",
                details=f"The token was not granted access to {asset}",
            )
        return assets

    def demo_assets() -> dict[str, Any]:
        ids = [business.waba_id, *numbers(), business.catalog_id, business.page_id, business.instagram_account_id]
        return {"granted": set(ids), "waba_id": business.waba_id}

    # ------------------------------------------------------------------ the consent window

    def dialog_problem() -> Response | None:
        args = request.values
        if args.get("client_id") != business.app_id:
            return error_page("Invalid App ID", "The provided app ID does not look like a valid app ID.")
        redirect_uri = args.get("redirect_uri", "")
        if not redirect_allowed(redirect_uri, state.options.oauth_redirect_uris):
            return error_page(
                "URL Blocked",
                "This redirect failed because the redirect URI is not whitelisted in the app's Client OAuth "
                "Settings. Make sure Client and Web OAuth Login are on and add all your app domains as Valid OAuth "
                "Redirect URIs.",
            )
        if args.get("config_id") not in (business.signup_config_id, business.login_config_id):
            return error_page("Invalid configuration", "The config_id does not belong to this app.")
        if args.get("response_type") != "code":
            return error_page("Invalid request", "This configuration returns a code: use response_type=code.")
        return None

    @bp.get("/<version:version>/dialog/oauth")
    def dialog(version: str) -> Response:
        problem = dialog_problem()
        if problem is not None:
            return problem
        args = request.args
        try:
            extras = json.loads(args.get("extras") or "{}")
        except ValueError:
            return error_page("Invalid request", "extras is not valid JSON.")
        feature = str((extras or {}).get("featureType") or "")
        login = args["config_id"] == business.login_config_id
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">' for k, v in args.items()
        )
        pretty = {pn: "+" + digits for pn, digits in numbers().items()}
        if login:
            title = f"{business.app_name} is requesting access to your Pages and Instagram accounts"
            choices = (
                f'<label><input type="checkbox" name="page_ids" value="{business.page_id}" checked> '
                f"{html.escape(business.page_name)} (Facebook Page)</label><br>"
                f'<label><input type="checkbox" name="instagram_account_ids" value="{business.instagram_account_id}"'
                f" checked> @{html.escape(business.instagram_username)} (Instagram)</label>"
            )
        elif feature == "whatsapp_business_app_onboarding":
            title = f"Connect your WhatsApp Business app to {business.app_name}"
            choices = (
                f"<p>Number in your WhatsApp Business app: <b>{pretty[business.phone_number_id]}</b>. Your chats and "
                "contacts stay in the app; messages will be shared with the Cloud API.</p>"
                f'<input type="hidden" name="phone_number_id" value="{business.phone_number_id}">'
            )
        else:
            title = f"{business.app_name} wants to connect to WhatsApp"
            options = "".join(f'<option value="{pn}">{html.escape(shown)}</option>' for pn, shown in pretty.items())
            options += '<option value="new">Add a new number</option>'
            choices = (
                f"<p>Business portfolio: <b>{html.escape(business.verified_name)}</b></p>"
                f'<label>WhatsApp Business account <select name="waba_id"><option value="{business.waba_id}">'
                f"{html.escape(business.verified_name)}</option></select></label><br>"
                f'<label>Phone number <select name="phone_number_id">{options}</select></label><br>'
                '<label>New number (with country code) <input name="new_number" id="meta-new-number"></label>'
            )
        confirm = f"/{version}/dialog/oauth/confirm"
        body = (
            f"<!doctype html><title>Log in with Facebook</title><h1>{html.escape(title)}</h1>"
            f'<form method="post" action="{confirm}">{hidden}{choices}<p>'
            '<button type="submit" name="choice" value="continue" id="meta-continue">Continue</button> '
            '<button type="submit" name="choice" value="cancel" id="meta-cancel">Cancel</button></p></form>'
        )
        return Response(body, mimetype="text/html")

    def finish_page(event: dict[str, Any], target: str) -> Response:
        """Post ``event`` to the opener as Meta's page does (a JSON string), then follow the redirect."""
        script = (
            f"var e={json.dumps(json.dumps(event))};"
            'if(window.opener){window.opener.postMessage(e,"*");}'
            f"window.location.replace({json.dumps(target)});"
        )
        return Response(f"<!doctype html><title>Facebook</title><script>{script}</script>", mimetype="text/html")

    def add_number(version: str, form: Any) -> str | Response:
        """ "Add a new number": Meta texts a code to it; the page asks for it (the sandbox shows it), then the number
        joins the portfolio. Returns the new phone number id, or the page asking for the code."""
        digits = re.sub(r"\D", "", form.get("new_number", ""))
        if not 8 <= len(digits) <= 15:
            return error_page("Enter a valid phone number", "Enter the number with its country code, e.g. +49 151 ...")
        code = f"{int(hmac.new(business.app_secret.encode(), digits.encode(), 'sha256').hexdigest(), 16) % 10**6:06d}"
        if form.get("otp") != code:
            hidden = "".join(
                f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                for k, v in form.items()
                if k not in ("otp", "choice")
            )
            wrong = "<p>That code is not right.</p>" if form.get("otp") else ""
            body = (
                f"<!doctype html><title>Verify your number</title><h1>Verify +{digits}</h1>{wrong}"
                f'<p>We sent a code by SMS to +{digits}. (Sandbox: the code is <b id="meta-otp-code">{code}</b>.)</p>'
                f'<form method="post" action="/{version}/dialog/oauth/confirm">{hidden}'
                '<label>Code <input name="otp" id="meta-otp"></label> '
                '<button type="submit" name="choice" value="continue" id="meta-continue">Continue</button></form>'
            )
            return Response(body, mimetype="text/html")
        phone_number_id = str(106_540_352_300_000 + int(digits) % 100_000)
        with state.lock:
            state.options.portfolio_phone_numbers = {**state.options.portfolio_phone_numbers, phone_number_id: digits}
        return phone_number_id

    @bp.post("/<version:version>/dialog/oauth/confirm")
    def confirm(version: str) -> Response:
        problem = dialog_problem()
        if problem is not None:
            return problem
        form = request.form
        redirect_uri = form["redirect_uri"]
        joiner = "&" if "?" in redirect_uri else "?"
        state_param = {"state": form["state"]} if form.get("state") else {}
        if form.get("choice") != "continue":
            event = {"data": {"current_step": "PHONE_NUMBER_SETUP"}, "type": "WA_EMBEDDED_SIGNUP", "event": "CANCEL"}
            denied = {
                "error": "access_denied",
                "error_code": "200",
                "error_description": "Permissions error",
                "error_reason": "user_denied",
                **state_param,
            }
            return finish_page(event, redirect_uri + joiner + urlencode(denied))
        extras = json.loads(form.get("extras") or "{}") or {}
        coexistence = extras.get("featureType") == "whatsapp_business_app_onboarding"
        login = form["config_id"] == business.login_config_id
        phone = form.get("phone_number_id", "")
        if not login and phone == "new":
            created = add_number(version, form)
            if isinstance(created, Response):
                return created
            phone = created
        if not login and phone not in numbers():
            return error_page("Something went wrong", "Choose one of your phone numbers.")
        if login:
            data: dict[str, Any] = {
                "page_ids": [p for p in form.getlist("page_ids") if p == business.page_id],
                "instagram_account_ids": [
                    i for i in form.getlist("instagram_account_ids") if i == business.instagram_account_id
                ],
            }
            event_name = "FINISH"
        elif coexistence:
            data = {"waba_id": business.waba_id}  # coexistence FINISH carries the WABA only (§4.5)
            event_name = "FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING"
        else:
            data = {
                "phone_number_id": phone,
                "waba_id": business.waba_id,
                "business_id": business.business_id,
                "catalog_ids": [business.catalog_id],
            }
            event_name = "FINISH"
        with state.lock:
            code = "AQ" + secrets.token_urlsafe(48)
            signup.codes[code] = IssuedCode(
                code=code,
                issued_at=state.now(),
                redirect_uri=redirect_uri,
                config_id=form["config_id"],
                assets={**data, "phone_number_id": phone, "coexistence": coexistence, "login": login},
            )
        event = {"data": data, "type": "WA_EMBEDDED_SIGNUP", "event": event_name}
        return finish_page(event, redirect_uri + joiner + urlencode({"code": code, **state_param}))

    # ------------------------------------------------------------------ tokens

    @bp.get("/<version:version>/oauth/access_token")
    def access_token(version: str) -> Response:
        args = request.args
        if args.get("client_id") != business.app_id:
            return oauth_error("Error validating application. Invalid application ID.", 101)
        if not hmac.compare_digest(str(args.get("client_secret", "")).encode(), business.app_secret.encode()):
            return oauth_error("Error validating client secret.", 1)
        if args.get("grant_type") == "fb_exchange_token":
            return long_lived(args.get("fb_exchange_token", ""))
        with state.lock:
            issued = signup.codes.get(args.get("code", ""))
            if issued is None:
                return oauth_error("Invalid verification code format.", 100, 36007)
            if issued.used:
                return oauth_error("This authorization code has been used.", 100, 36009)
            if state.now() - issued.issued_at > CODE_TTL:
                return oauth_error("This authorization code has expired.", 100, 36007)
            sent_redirect = args.get("redirect_uri")
            if sent_redirect is not None and sent_redirect != issued.redirect_uri:
                return oauth_error(
                    "Error validating verification code. Please make sure your redirect_uri is identical to the one "
                    "you used in the OAuth dialog request",
                    100,
                    36008,
                )
            issued.used = True
            token = "EAAG" + secrets.token_urlsafe(40)
            assets = dict(issued.assets)
            if assets.get("login"):
                assets["granted"] = {*assets.get("page_ids", []), *assets.get("instagram_account_ids", [])}
            else:
                assets["granted"] = {business.waba_id, *numbers(), business.catalog_id}
                assets["waba_id"] = business.waba_id
                if assets.get("coexistence"):
                    signup.coexistence[business.phone_number_id] = state.now()
            signup.tokens[token] = assets
            state.issued_tokens.add(token)
        return jsonify({"access_token": token})

    def long_lived(short: str) -> Response:
        """A user token for a long-lived one (about 60 days; Page tokens derived from it do not expire)."""
        with state.lock:
            assets = signup.tokens.get(short)
            if assets is None or not assets.get("login"):
                return oauth_error("Invalid OAuth access token.", 190, status=400)
            token = "EAAL" + secrets.token_urlsafe(40)
            signup.tokens[token] = {**assets, "long_lived": True}
            state.issued_tokens.add(token)
        return jsonify({"access_token": token, "token_type": "bearer", "expires_in": 5183944})

    @bp.get("/<version:version>/debug_token")
    def debug_token(version: str) -> Response:
        caller = bearer()
        with state.lock:
            known_caller = app_token_ok(caller) or (caller or "") in signup.tokens
        if not known_caller:
            raise GraphError(190, "Invalid OAuth access token - Cannot parse access token")
        token = request.args.get("input_token", "")
        if app_token_ok(token):
            return jsonify(
                {"data": {"app_id": business.app_id, "type": "APP", "application": business.app_name, "is_valid": True}}
            )
        with state.lock:
            assets = signup.tokens.get(token)
            if assets is None and token in signup.page_tokens:
                assets = {"login": True, "page_ids": [signup.page_tokens[token]]}
        if assets is None and hmac.compare_digest(token.encode(), business.access_token.encode()):
            assets = {}  # the demo business's system-user token
        if assets is None:
            invalid = {"code": 190, "message": "Invalid OAuth access token."}
            return jsonify({"data": {"error": invalid, "is_valid": False, "scopes": []}})
        if assets.get("login"):
            scopes = ["pages_show_list", "pages_manage_metadata", "pages_messaging", "instagram_basic",
                      "instagram_manage_messages", "business_management"]  # fmt: skip
            granular = [
                {"scope": "pages_messaging", "target_ids": assets.get("page_ids", [])},
                {"scope": "instagram_manage_messages", "target_ids": assets.get("instagram_account_ids", [])},
            ]
        else:
            scopes = ["whatsapp_business_management", "whatsapp_business_messaging", "catalog_management"]
            granular = [
                {"scope": "whatsapp_business_management", "target_ids": [business.waba_id]},
                {"scope": "whatsapp_business_messaging", "target_ids": [business.waba_id]},
                {"scope": "catalog_management", "target_ids": [business.catalog_id]},
            ]
        data = {
            "app_id": business.app_id,
            "type": "SYSTEM_USER" if not assets.get("login") else "USER",
            "application": business.app_name,
            "data_access_expires_at": 0,
            "expires_at": 0,
            "is_valid": True,
            "scopes": scopes,
            "granular_scopes": granular,
        }
        return jsonify({"data": data})

    # ------------------------------------------------------------------ WhatsApp assets

    @bp.route("/<version:version>/<node>/subscribed_apps", methods=["GET", "POST", "DELETE"])
    def subscribed_apps(version: str, node: str) -> Response:
        if node == business.page_id:
            return page_subscribed_apps(node)
        if node != business.waba_id:
            raise unknown_object(node, request.method.lower())
        granted(node)
        app = {"whatsapp_business_api_data": {"id": business.app_id, "name": business.app_name}}
        if request.method == "GET":
            with state.lock:
                current = signup.waba_subscription
            return jsonify({"data": [] if current is None else [{**app, **current}]})
        if request.method == "DELETE":
            with state.lock:
                signup.waba_subscription = None
            return jsonify({"success": True})
        params = _params()
        override = params.get("override_callback_uri")
        if override:
            with state.lock:
                subscribed = signup.waba_subscription is not None
            if not subscribed:
                raise GraphError(  # (R) [volc-override]
                    100,
                    "Before override the current callback uri, your app must be subscribed to receive messages for "
                    "WhatsApp Business Account",
                )
            verify_token = params.get("verify_token")
            if not isinstance(verify_token, str) or not verify_token:
                raise invalid_parameter("verify_token is required with override_callback_uri")
            try:
                hub.subscribe(str(override), ["whatsapp_business_account"], verify_token)
            except VerificationFailed as exc:
                raise GraphError(2200, f"Callback verification failed with the following errors: {exc}") from exc
        with state.lock:
            signup.waba_subscription = {"override_callback_uri": override} if override else {}
        return jsonify({"success": True})

    @bp.get("/<version:version>/<node>/phone_numbers")
    def phone_numbers(version: str, node: str) -> Response:
        if node != business.waba_id:
            raise unknown_object(node)
        granted(node)
        with state.lock:
            data = [
                {
                    "verified_name": business.verified_name,
                    "code_verification_status": "VERIFIED",
                    "display_phone_number": "+" + digits,
                    "quality_rating": "GREEN",
                    "platform_type": "CLOUD_API" if pn in signup.registered or pn in signup.coexistence else
                    "NOT_APPLICABLE",
                    "id": pn,
                }
                for pn, digits in numbers().items()
            ]  # fmt: skip
        return jsonify({"data": data})

    @bp.post("/<version:version>/<node>/register")
    def register(version: str, node: str) -> Response:
        if node not in numbers():
            raise unknown_object(node, "post")
        granted(node)
        params = _params()
        if params.get("messaging_product") != "whatsapp":
            raise invalid_parameter("messaging_product must be whatsapp", whatsapp=True)
        pin = str(params.get("pin", ""))
        with state.lock:
            now = state.now()
            attempts = [t for t in signup.register_attempts.get(node, []) if now - t < REGISTER_WINDOW]
            if len(attempts) >= REGISTER_ATTEMPTS:
                raise GraphError(
                    133016,
                    "Account register deregister rate limit exceeded",
                    details="Registration attempts for this number exceeded the limit; try again later.",
                    whatsapp=True,
                )
            signup.register_attempts[node] = [*attempts, now]
            if not re.fullmatch(r"\d{6}", pin):
                raise invalid_parameter("pin must be 6 digits", whatsapp=True)
            signup.registered[node] = pin
        return jsonify({"success": True})

    @bp.post("/<version:version>/<node>/smb_app_data")
    def smb_app_data(version: str, node: str) -> Response:
        if node not in numbers():
            raise unknown_object(node, "post")
        granted(node)
        params = _params()
        sync_type = params.get("sync_type")
        if params.get("messaging_product") != "whatsapp" or sync_type not in SYNC_TYPES:
            raise invalid_parameter(f"sync_type must be one of {', '.join(SYNC_TYPES)}", whatsapp=True)
        with state.lock:
            onboarded = signup.coexistence.get(node)
            if onboarded is None:
                raise invalid_parameter("This number was not onboarded with the WhatsApp Business app", whatsapp=True)
            if state.now() - onboarded > SYNC_WINDOW:
                raise invalid_parameter("The 24 hour window for syncing has passed; onboard again", whatsapp=True)
            done = signup.syncs.setdefault(node, {})
            if sync_type in done:
                raise invalid_parameter(f"{sync_type} was already requested for this number", whatsapp=True)
            request_id = secrets.token_hex(12)
            done[str(sync_type)] = request_id
        return jsonify({"messaging_product": "whatsapp", "request_id": request_id})

    @bp.route("/<version:version>/<node>/product_catalogs", methods=["GET", "POST"])
    def product_catalogs(version: str, node: str) -> Response:
        if node != business.waba_id:
            raise unknown_object(node, request.method.lower())
        granted(node)
        if request.method == "POST":
            catalog_id = str(_params().get("catalog_id", ""))
            with state.lock:
                if catalog_id not in state.catalogs:
                    raise unknown_object(catalog_id, "post")
                if catalog_id not in signup.connected_catalogs:
                    signup.connected_catalogs.append(catalog_id)
            return jsonify({"success": True})
        with state.lock:
            data = [{"id": c, "name": state.catalogs[c].name} for c in signup.connected_catalogs if c in state.catalogs]
        return jsonify({"data": data})

    # ------------------------------------------------------------------ Pages and Instagram

    @bp.get("/<version:version>/me/accounts")
    def accounts(version: str) -> Response:
        token = bearer()
        with state.lock:
            assets = signup.tokens.get(token or "")
        if assets is None or not assets.get("login"):
            raise GraphError(190, "Invalid OAuth access token - Cannot parse access token")
        wanted = {f.strip() for f in request.args.get("fields", "").split(",") if f.strip()}
        data = []
        for page_id in assets.get("page_ids", []):
            page_token = "EAAP" + secrets.token_urlsafe(40)
            with state.lock:
                signup.page_tokens[page_token] = page_id
                state.issued_tokens.add(page_token)
            # Page tokens from a long-lived user token do not expire (R); from a short-lived one they last an hour.
            page: dict[str, Any] = {
                "access_token": page_token,
                "category": "Shopping & retail",
                "name": business.page_name,
                "id": page_id,
                "tasks": ["ANALYZE", "ADVERTISE", "MESSAGING", "MODERATE", "CREATE_CONTENT", "MANAGE"],
            }
            if "instagram_business_account" in wanted and business.instagram_account_id in assets.get(
                "instagram_account_ids", []
            ):
                page["instagram_business_account"] = {"id": business.instagram_account_id}
            data.append(page)
        return jsonify({"data": data})

    def page_subscribed_apps(page_id: str) -> Response:
        token = bearer()
        with state.lock:
            owner = signup.page_tokens.get(token or "")
        if owner != page_id:
            raise GraphError(
                190 if owner is None else 210,
                "Invalid OAuth access token - Cannot parse access token" if owner is None else "A page access token "
                "is required to request this resource.",
            )  # fmt: skip
        if request.method == "GET":
            with state.lock:
                fields = signup.page_subscriptions.get(page_id)
            entry = {"id": business.app_id, "name": business.app_name, "subscribed_fields": fields or []}
            return jsonify({"data": [] if fields is None else [entry]})
        if request.method == "DELETE":
            with state.lock:
                signup.page_subscriptions.pop(page_id, None)
            return jsonify({"success": True})
        wanted = [f.strip() for f in str(_params().get("subscribed_fields", "")).split(",") if f.strip()]
        unknown = [f for f in wanted if f not in PAGE_FIELDS]
        if not wanted or unknown:
            raise invalid_parameter(f"subscribed_fields must name fields of the page object; unknown: {unknown}")
        with state.lock:
            signup.page_subscriptions[page_id] = wanted
        return jsonify({"success": True})

    @bp.post("/<version:version>/<node>/subscriptions")
    def app_subscriptions(version: str, node: str) -> Response:
        if node != business.app_id:
            raise unknown_object(node, "post")
        if not app_token_ok(bearer()):
            raise GraphError(190, "Invalid OAuth access token - Cannot parse access token")
        params = _params()
        object_name = params.get("object")
        if object_name not in ("page", "instagram", "whatsapp_business_account"):
            raise invalid_parameter("object must be page, instagram or whatsapp_business_account")
        callback = params.get("callback_url")
        verify_token = params.get("verify_token")
        if not isinstance(callback, str) or not isinstance(verify_token, str) or not params.get("fields"):
            raise invalid_parameter("callback_url, verify_token and fields are required")
        try:
            hub.subscribe(callback, [str(object_name)], verify_token)
        except VerificationFailed as exc:
            raise GraphError(2200, f"Callback verification failed with the following errors: {exc}") from exc
        with state.lock:
            signup.app_subscriptions[str(object_name)] = {"callback_url": callback, "fields": params["fields"]}
        return jsonify({"success": True})

    @bp.get("/_sandbox/signup")
    def control_state() -> Response:
        """What the onboarding left behind: subscriptions, registrations, syncs, connected catalogs."""
        with state.lock:
            return jsonify(
                {
                    "waba_subscription": signup.waba_subscription,
                    "page_subscriptions": signup.page_subscriptions,
                    "app_subscriptions": signup.app_subscriptions,
                    "registered": sorted(signup.registered),
                    "register_attempts": {k: len(v) for k, v in signup.register_attempts.items()},
                    "coexistence": sorted(signup.coexistence),
                    "syncs": signup.syncs,
                    "connected_catalogs": signup.connected_catalogs,
                    "codes_issued": len(signup.codes),
                    "long_lived_user_tokens": sum(1 for a in signup.tokens.values() if a.get("long_lived")),
                    "webhook_subscriptions": dict(hub.subscriptions),
                }
            )

    return bp


_FINISH = re.compile(r"var e=(\".*?\");if\(window\.opener\).*?window\.location\.replace\((\".*?\")\);", re.S)
_OTP = re.compile(r'<b id="meta-otp-code">(\d{6})</b>')
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')
_DEFAULTS = re.compile(
    r'<select name="([^"]+)"><option value="([^"]*)"|<input type="checkbox" name="([^"]+)" value="([^"]*)" checked>'
)


def walk_window(dialog_url: str, choice: str = "continue", **picked: str) -> tuple[dict[str, Any], str]:
    """Play the owner in the consent window without a browser: open ``dialog_url``, press ``choice`` (``continue``
    or ``cancel``) with ``picked`` choices (``phone_number_id``; ``"new"`` with ``new_number`` adds a number and types
    the texted code). Returns the message event the window posted to
    its opener and the URL it redirected to. Raises ``AssertionError`` with the page when the window refused."""
    import requests

    opened = requests.get(dialog_url, timeout=30)
    assert opened.status_code == 200, opened.text
    fields = {html.unescape(k): html.unescape(v) for k, v in _HIDDEN.findall(opened.text)}
    for select, option, box, value in _DEFAULTS.findall(opened.text):  # what the window preselects
        fields[select or box] = option or value
    fields.update(picked, choice=choice)
    parts = urlsplit(dialog_url)
    confirm = f"{parts.scheme}://{parts.netloc}{parts.path}/confirm"
    answered = requests.post(confirm, data=fields, timeout=30)
    otp = _OTP.search(answered.text)
    if otp is not None:  # a new number: type the code Meta texted
        answered = requests.post(confirm, data={**fields, "otp": otp.group(1)}, timeout=30)
    found = _FINISH.search(answered.text)
    assert answered.status_code == 200 and found, answered.text
    return json.loads(json.loads(found.group(1))), json.loads(found.group(2))
