"""REST API key authentication as ``WC_REST_Authentication`` does it.

Over HTTPS: the consumer key and secret as HTTP Basic auth, or as ``consumer_key``/``consumer_secret`` query
parameters. Over plain HTTP: OAuth 1.0a "one-legged" only (HMAC-SHA1 or HMAC-SHA256, signing key
``consumer_secret&``, a 15-minute timestamp window, nonces never reused), with the ``oauth_*`` parameters in
the query string, a form body or an ``Authorization: OAuth`` header. Keys sent the HTTPS way over plain HTTP
are ignored, so the request is as anonymous as one without credentials.
"""

from __future__ import annotations

import hmac
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from types import SimpleNamespace
from urllib.parse import unquote_plus, urlsplit, urlunsplit

from flask import Request
from oauthlib.oauth1.rfc5849 import signature

from .store import ApiError

#: Timestamps and nonces are checked over this window (seconds), either side of now.
WINDOW = 15 * 60
_REQUIRED = ("oauth_consumer_key", "oauth_timestamp", "oauth_nonce", "oauth_signature", "oauth_signature_method")
_SIGNERS = {
    "HMAC-SHA1": signature.sign_hmac_sha1_with_client,
    "HMAC-SHA256": signature.sign_hmac_sha256_with_client,
}


def _auth_error(message: str) -> ApiError:
    return ApiError(401, "woocommerce_rest_authentication_error", message)


def is_ssl(request: Request, served_over_https: bool) -> bool:
    """WordPress's ``is_ssl()``: the site is served over HTTPS, or a TLS-terminating proxy says so
    (``X-Forwarded-Proto: https``, which the usual ``wp-config.php`` recipe behind a proxy honours)."""
    forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return served_over_https or request.scheme == "https" or forwarded == "https"


def _header_params(header: str) -> dict[str, str]:
    """``WC_REST_Authentication::parse_header``: the ``oauth_*`` pairs of an ``Authorization: OAuth`` header."""
    header = header.strip()
    if not header.startswith("OAuth "):
        return {}
    params: dict[str, str] = {}
    for part in header[6:].split(","):
        name, _, value = part.strip().partition("=")
        if name.startswith("oauth_"):
            params[name] = unquote_plus(value.strip().strip('"'))
    return params


@dataclass
class OAuthVerifier:
    """Checks OAuth 1.0a requests for one API key and remembers the nonces it has seen."""

    consumer_key: str
    consumer_secret: str
    lock: threading.Lock = field(default_factory=threading.Lock)
    nonces: OrderedDict[str, float] = field(default_factory=OrderedDict)  # nonce -> when it was seen, oldest first

    def credentials(self, request: Request) -> dict[str, str] | None:
        """The request's OAuth parameters, ``None`` when it carries none (not trying OAuth at all)."""
        params = {**request.args.to_dict(), **request.form.to_dict()}
        params.update(_header_params(request.headers.get("Authorization", "")))
        present = [name for name in _REQUIRED if params.get(name)]
        if not present:
            return None
        missing = [name for name in _REQUIRED if not params.get(name)]
        if missing:
            noun = "parameter" if len(missing) == 1 else "parameters"
            raise ApiError(
                401, "woocommerce_rest_authentication_missing_parameter", f"Missing OAuth {noun} {', '.join(missing)}"
            )
        return params

    def verify(self, request: Request, params: dict[str, str], home_url: str, ssl: bool) -> None:
        """Raise :class:`ApiError` (401) unless ``params`` sign ``request`` with this key, fresh."""
        if not hmac.compare_digest(params["oauth_consumer_key"].encode(), self.consumer_key.encode()):
            raise _auth_error("Consumer key is invalid.")
        signer = _SIGNERS.get(params["oauth_signature_method"])
        if signer is None:
            raise _auth_error("Invalid signature - signature method is invalid.")
        # The URL signed is the site's home URL (scheme as is_ssl() says) plus the request path, never the Host
        # the client happened to use.
        home = urlsplit(home_url)
        uri = urlunsplit(("https" if ssl else "http", home.netloc, request.path, "", ""))
        pairs = [(k, v) for k, v in params.items() if k != "oauth_signature"]
        base = signature.signature_base_string(
            request.method.upper(), signature.base_string_uri(uri), signature.normalize_parameters(pairs)
        )
        # one-legged: no token, so the signing key is "consumer_secret&"
        expected = signer(base, SimpleNamespace(client_secret=self.consumer_secret, resource_owner_secret=""))
        provided = params["oauth_signature"].replace(" ", "+")
        if not hmac.compare_digest(expected.encode(), provided.encode()):
            raise _auth_error("Invalid signature - provided signature does not match.")
        self._check_fresh(params["oauth_timestamp"], params["oauth_nonce"])

    def _check_fresh(self, timestamp: str, nonce: str) -> None:
        try:
            stamp = int(timestamp)
        except ValueError:
            raise _auth_error("Invalid timestamp.") from None
        current = time.time()
        if abs(stamp - current) > WINDOW:
            raise _auth_error("Invalid timestamp.")
        with self.lock:
            while self.nonces and next(iter(self.nonces.values())) < current - WINDOW:
                self.nonces.popitem(last=False)  # outside the window a replay fails on its timestamp anyway
            if nonce in self.nonces:
                raise _auth_error("Invalid nonce - nonce has already been used.")
            self.nonces[nonce] = current
