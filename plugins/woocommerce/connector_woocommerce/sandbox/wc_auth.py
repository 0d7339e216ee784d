"""``/wc-auth/v1/``: WooCommerce's app authentication endpoint (``WC_Auth``), as the sandbox's store serves it.

* ``authorize`` validates ``app_name, scope, user_id, return_url, callback_url`` (all required scalars; scope
  ``read|write|read_write``; ``callback_url`` over SSL) and shows the grant screen ("<app> would like to connect to
  your store", Approve / Deny). Failures are ``wp_die`` pages: HTTP 401, title "Access denied", "Error: <msg>.".
* ``access_granted`` checks the nonce of the Approve link, creates the key, and POSTs
  ``{key_id, user_id, consumer_key, consumer_secret, key_permissions}`` as ``application/json;charset=UTF-8`` to
  ``callback_url`` with ``wp_safe_remote_post``: refused for hosts resolving to private, loopback, link-local or
  shared addresses and ports other than 80, 443, 8080. Unless the callback answers exactly 200 the key is deleted
  and the owner sees an error; otherwise the browser goes to ``return_url?success=1&user_id=<user_id>``.

``allow_local_callbacks`` (a sandbox option for tests on one machine) lets the POST go to 127.0.0.1, any port and
plain HTTP. The sandbox has one active key: the one created replaces the previous one (which stays if the POST fails).
"""

from __future__ import annotations

import hashlib
import html
import ipaddress
import json
import secrets
import socket
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlencode, urlsplit

import requests
from flask import Blueprint, Response, redirect, request

if TYPE_CHECKING:
    from .app import Options
    from .auth import OAuthVerifier

SCOPES = {
    "read": ("Read", ["View coupons", "View customers", "View orders and sales reports", "View products"]),
    "write": ("Write", ["Create webhooks", "Create coupons", "Create customers", "Create orders", "Create products"]),
    "read_write": (
        "Read/Write",
        [
            "Create webhooks",
            "View and manage coupons",
            "View and manage customers",
            "View and manage orders and sales reports",
            "View and manage products",
        ],
    ),
}
SAFE_PORTS = (80, 443, 8080)
PARAMS = ("app_name", "user_id", "return_url", "callback_url", "scope")


def _die(message: str) -> Response:
    body = f"<!doctype html><title>Access denied</title><h1>Access denied</h1><p>Error: {html.escape(message)}.</p>"
    return Response(body, status=401, content_type="text/html; charset=UTF-8")


def _rand_hash() -> str:
    """``wc_rand_hash()``: a sha1 of random bytes."""
    return hashlib.sha1(secrets.token_bytes(32)).hexdigest()


def _valid_url(value: str) -> str | None:
    value = unquote(value)
    if "://" not in value:
        value = "https://" + value
    parts = urlsplit(value)
    return value if parts.scheme and parts.netloc else None


def _unsafe(url: str) -> bool:
    """``wp_http_validate_url``: a private/loopback/link-local/shared address or an unusual port."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if port not in SAFE_PORTS:
        return True
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(parts.hostname or "", None)}
    except (socket.gaierror, UnicodeError):
        return True
    for address in addresses:
        ip = ipaddress.ip_address(str(address).split("%")[0])
        if ip.is_private or ip.is_loopback or ip.is_link_local or ip in ipaddress.ip_network("100.64.0.0/10"):
            return True
    return False


class WcAuth:
    """The grant screen's nonces and the keys it created."""

    def __init__(self, options: Options, verifier: OAuthVerifier, *, allow_local_callbacks: bool = False):
        self.options = options
        self.verifier = verifier
        self.allow_local_callbacks = allow_local_callbacks
        self.lock = threading.Lock()
        self.nonces: dict[str, str] = {}  # nonce -> the authorize query it was made for
        self.key_id = 0
        self.callbacks: list[dict[str, Any]] = []  # what each callback POST got back (tests read it)

    def validate(self, args: Any) -> tuple[dict[str, str], str | None]:
        values: dict[str, str] = {}
        for name in PARAMS:
            got = args.getlist(name)
            if not got or not got[0]:
                return values, f"Missing parameter {name}"
            if len(got) > 1:
                return values, f"Invalid parameter {name}"
            values[name] = got[0]
        if values["scope"] not in SCOPES:
            return values, f"Invalid scope {values['scope']}"
        for name in ("return_url", "callback_url"):
            url = _valid_url(values[name])
            if url is None:
                return values, f"The {values[name]} is not a valid URL"
            values[name] = url
        if not values["callback_url"].startswith("https://") and not self.allow_local_callbacks:
            return values, "The callback_url needs to be over SSL"
        return values, None

    def install_key(self, permissions: str) -> tuple[int, str, str, tuple[str, str, str]]:
        """Create a key and make it the store's active one; returns it and the previous key (to restore)."""
        previous = (self.options.consumer_key, self.options.consumer_secret, self.options.key_permissions)
        key, secret = "ck_" + _rand_hash(), "cs_" + _rand_hash()
        self.key_id += 1
        self.set_key(key, secret, permissions)
        return self.key_id, key, secret, previous

    def set_key(self, key: str, secret: str, permissions: str) -> None:
        self.options.consumer_key, self.options.consumer_secret = key, secret
        self.options.key_permissions = permissions
        self.verifier.consumer_key, self.verifier.consumer_secret = key, secret


def blueprint(auth: WcAuth) -> Blueprint:
    bp = Blueprint("wc_auth", __name__)

    @bp.get("/wc-auth/v1/authorize")
    def authorize() -> Response:
        values, error = auth.validate(request.args)
        if error:
            return _die(error)
        label, permissions = SCOPES[values["scope"]]
        nonce = secrets.token_hex(5)
        with auth.lock:
            auth.nonces[nonce] = request.query_string.decode()
        app = html.escape(values["app_name"])
        approve = f"/wc-auth/v1/access_granted?{request.query_string.decode()}&{urlencode({'wc_auth_nonce': nonce})}"
        deny = f"{values['return_url']}{'&' if '?' in values['return_url'] else '?'}" + urlencode(
            {"success": 0, "user_id": values["user_id"]}
        )
        items = "".join(f"<li>{p}</li>" for p in permissions)
        body = (
            f"<!doctype html><title>Connect</title><h1>{app} would like to connect to your store</h1>"
            f'<p>This will give "{app}" {label} access which will allow it to:</p><ul class="wc-auth-permissions">{items}</ul>'
            f"<p>Logged in as shop manager</p>"
            f'<a class="button" id="wc-auth-approve" href="{html.escape(approve)}">Approve</a> '
            f'<a class="button" id="wc-auth-deny" href="{html.escape(deny)}">Deny</a>'
        )
        return Response(body, content_type="text/html; charset=UTF-8")

    @bp.get("/wc-auth/v1/access_granted")
    def access_granted() -> Any:
        values, error = auth.validate(request.args)
        if error:
            return _die(error)
        nonce = request.args.get("wc_auth_nonce", "")
        with auth.lock:
            made_for = auth.nonces.pop(nonce, None)
        query = request.query_string.decode().rsplit("&wc_auth_nonce=", 1)[0]
        if made_for is None or made_for != query:
            return _die("Invalid nonce verification")
        callback = values["callback_url"]
        if not auth.allow_local_callbacks and _unsafe(callback):
            return _die("A valid URL was not provided")
        with auth.lock:
            key_id, key, secret, previous = auth.install_key(values["scope"])
        body = json.dumps(
            {
                "key_id": key_id,
                "user_id": values["user_id"],
                "consumer_key": key,
                "consumer_secret": secret,
                "key_permissions": values["scope"],
            }
        )
        try:
            answer = requests.post(
                callback,
                data=body.encode(),
                headers={"Content-Type": "application/json;charset=UTF-8"},
                timeout=60,
                allow_redirects=False,
            )
            status: int | None = answer.status_code
        except requests.RequestException:
            status = None
        with auth.lock:
            auth.callbacks.append({"url": callback, "status": status})
            if status != 200:  # only exactly 200 keeps the key
                auth.set_key(*previous)
        if status != 200:
            return _die("An error occurred in the request and at the time were unable to send the consumer data")
        back = values["return_url"]
        return redirect(
            f"{back}{'&' if '?' in back else '?'}" + urlencode({"success": 1, "user_id": values["user_id"]})
        )

    return bp
