"""Embedded Signup v4, server side (onboarding.md §4.6-4.8): from the window's code to a working WhatsApp connection.

1. exchange the code for the business token at once (it lives 30 seconds; one attempt, never retried: a second
   try with the same code is refused anyway);
2. ``debug_token``: the WhatsApp Business Account the token was granted, and its catalogs;
3. the phone number (the one the window's event named, else the account's only or first number);
4. store the connection (token, app secret and a new verify token encrypted); the same number connected again
   updates its connection (same id: contacts, orders and webhook URL stay);
5. subscribe the app to the account, then point the account's webhooks at this connection
   (``override_callback_uri``; Meta checks it with the ``hub.challenge`` handshake);
6. register the number with a new two-step PIN, or, for coexistence, ask once for the WhatsApp Business app's
   contacts and history (``smb_app_data``) instead: registering would cut the app off;
7. connect the catalog to the account when the window named one and none is connected yet.

Anything failing after step 4 takes the stored change back (:mod:`.store`) and says what failed.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from connector_meta.graph import GraphClient, graph_error
from connector_meta.onboarding.app import MetaApp
from connector_meta.onboarding.store import store_channel

from connector.errors import PlatformError

if TYPE_CHECKING:
    from connector.db.models import ChannelConnection
    from connector.runtime import Runtime

log = logging.getLogger(__name__)

#: The coexistence syncs, each asked for once within 24 h of onboarding (§4.7).
COEXISTENCE_SYNCS = ("smb_app_state_sync", "history")


class OnboardingError(Exception):
    """A step of the onboarding failed; the message says which and what the owner can do."""


@dataclass(frozen=True, slots=True)
class WhatsAppAccount:
    """What the business token was granted, as discovered."""

    waba_id: str
    phone_number_id: str
    display_phone_number: str
    verified_name: str
    catalog_ids: tuple[str, ...]


def why(exc: PlatformError) -> str:
    info = graph_error(exc)
    return info.summary if info is not None else str(exc)


def exchange_code(app: MetaApp, code: str, redirect_uri: str | None = None) -> str:
    """``GET /oauth/access_token``: the code for a token. One attempt only: a retried code is a used code."""
    if not code:
        raise OnboardingError("Meta sent no code back; start again")
    params = {"client_id": app.app_id, "client_secret": app.app_secret, "code": code}
    if redirect_uri:
        params["redirect_uri"] = redirect_uri  # the manual login flow: must equal the dialog's
    client = GraphClient(
        graph_url=app.graph_url, api_version=app.api_version, access_token="", platform="Meta", max_attempts=1
    )
    try:
        answer = client.get_json("oauth/access_token", params=params)
    except PlatformError as exc:
        raise OnboardingError(f"Meta refused the code exchange: {why(exc)}") from exc
    token = answer.get("access_token") if isinstance(answer, dict) else None
    if not isinstance(token, str) or not token:
        raise OnboardingError("Meta's answer to the code exchange carried no access_token")
    return token


def granted_targets(app: MetaApp, token: str) -> dict[str, list[str]]:
    """``GET /debug_token`` (with the app token): scope -> ids the business token may touch."""
    try:
        answer = app.graph(app.app_token).get_json("debug_token", params={"input_token": token})
    except PlatformError as exc:
        raise OnboardingError(f"Meta would not describe the new token: {why(exc)}") from exc
    data = answer.get("data") if isinstance(answer, dict) else None
    if not isinstance(data, dict) or not data.get("is_valid"):
        raise OnboardingError("Meta says the new token is not valid; start again")
    if str(data.get("app_id")) != app.app_id:
        raise OnboardingError("the token belongs to another Meta app; check [plugins.meta] app_id")
    targets: dict[str, list[str]] = {}
    for item in data.get("granular_scopes") or []:
        if isinstance(item, dict) and isinstance(item.get("scope"), str):
            targets[item["scope"]] = [str(t) for t in item.get("target_ids") or []]
    return targets


def _event_data(session_info: dict[str, Any]) -> dict[str, Any]:
    data = session_info.get("data") if session_info.get("type") == "WA_EMBEDDED_SIGNUP" else None
    return data if isinstance(data, dict) else {}


def discover(app: MetaApp, token: str, session_info: dict[str, Any]) -> WhatsAppAccount:
    """The account, number and catalogs: the window's event where it named them, checked against the token."""
    targets = granted_targets(app, token)
    wabas = targets.get("whatsapp_business_management") or []
    if not wabas:
        raise OnboardingError("no WhatsApp Business Account was shared in Meta's window; start again and pick one")
    event = _event_data(session_info)
    waba_id = str(event.get("waba_id") or "")
    if waba_id not in wabas:
        waba_id = wabas[0]
    graph = app.graph(token)
    try:
        numbers = graph.get_json(f"{waba_id}/phone_numbers").get("data") or []
    except PlatformError as exc:
        raise OnboardingError(f"the account's phone numbers could not be read: {why(exc)}") from exc
    if not numbers:
        raise OnboardingError("the WhatsApp Business Account has no phone number yet; add one in Meta's window")
    wanted = str(event.get("phone_number_id") or "")
    number = next((n for n in numbers if str(n.get("id")) == wanted), numbers[0])
    catalogs = tuple(
        str(c) for c in (event.get("catalog_ids") or []) if str(c) in targets.get("catalog_management", [])
    )
    return WhatsAppAccount(
        waba_id=waba_id,
        phone_number_id=str(number["id"]),
        display_phone_number=str(number.get("display_phone_number") or ""),
        verified_name=str(number.get("verified_name") or ""),
        catalog_ids=catalogs,
    )


def subscribe_account(graph: GraphClient, waba_id: str, callback_url: str, verify_token: str) -> None:
    """Subscribe the app to the account, then send its webhooks to ``callback_url`` (handshake by Meta)."""
    try:
        graph.post_json(f"{waba_id}/subscribed_apps")
        graph.post_json(
            f"{waba_id}/subscribed_apps", json={"override_callback_uri": callback_url, "verify_token": verify_token}
        )
    except PlatformError as exc:
        raise OnboardingError(
            f"Meta could not send this account's webhooks to {callback_url}: {why(exc)}. Meta must reach this "
            "address over HTTPS (see the prerequisites on the first setup page)"
        ) from exc


def register_number(graph: GraphClient, phone_number_id: str, pin: str) -> None:
    """``POST /<PN>/register`` with a new 6-digit PIN (it becomes the number's two-step verification PIN)."""
    try:
        graph.post_json(f"{phone_number_id}/register", json={"messaging_product": "whatsapp", "pin": pin})
    except PlatformError as exc:
        raise OnboardingError(f"the number could not be registered for the Cloud API: {why(exc)}") from exc


def request_coexistence_syncs(graph: GraphClient, phone_number_id: str) -> dict[str, str]:
    """Ask once for the WhatsApp Business app's contacts and chat history; returns sync type -> request id."""
    ids = {}
    for sync_type in COEXISTENCE_SYNCS:
        try:
            answer = graph.post_json(
                f"{phone_number_id}/smb_app_data", json={"messaging_product": "whatsapp", "sync_type": sync_type}
            )
        except PlatformError as exc:
            raise OnboardingError(
                f"the WhatsApp Business app's {sync_type} could not be requested: {why(exc)}"
            ) from exc
        ids[sync_type] = str(answer.get("request_id") or "")
    return ids


def connect_catalog(graph: GraphClient, waba_id: str, offered: tuple[str, ...]) -> str:
    """The account's catalog: the connected one, else the one the window named (connected now); ``""`` if none."""
    try:
        connected = graph.get_json(f"{waba_id}/product_catalogs").get("data") or []
        if connected:
            return str(connected[0]["id"])
        if not offered:
            return ""
        graph.post_json(f"{waba_id}/product_catalogs", json={"catalog_id": offered[0]})
    except PlatformError as exc:
        raise OnboardingError(f"the catalog could not be connected to the account: {why(exc)}") from exc
    return offered[0]


def connect(
    rt: Runtime,
    app: MetaApp,
    *,
    code: str,
    redirect_uri: str | None,
    shop_connection_id: int,
    coexistence: bool,
    session_info: dict[str, Any],
) -> ChannelConnection:
    """The whole server side of Embedded Signup; returns the new, tested ``whatsapp`` connection."""
    token = exchange_code(app, code, redirect_uri)
    account = discover(app, token, session_info)
    graph = app.graph(token)
    catalog_id = connect_catalog(graph, account.waba_id, account.catalog_ids)
    verify_token = secrets.token_urlsafe(24)
    pin = "" if coexistence else f"{secrets.randbelow(10**6):06d}"
    settings = {
        "phone_number_id": account.phone_number_id,
        "access_token": token,
        "app_secret": app.app_secret,
        "verify_token": verify_token,
        "waba_id": account.waba_id,
        "catalog_id": catalog_id,
        "graph_url": app.graph_url,
        "api_version": app.api_version,
        "two_step_pin": pin,
    }
    name = account.verified_name or account.display_phone_number or "WhatsApp"
    stored = store_channel(
        rt,
        shop_connection_id=shop_connection_id,
        channel="whatsapp",
        key="phone_number_id",
        name=name,
        settings=settings,
    )
    row = stored.row
    try:
        subscribe_account(graph, account.waba_id, rt.connections.webhook_url("whatsapp", row.id), verify_token)
        if coexistence:
            request_coexistence_syncs(graph, account.phone_number_id)
        else:
            register_number(graph, account.phone_number_id, pin)
        rt.connections.test("channel", row.id)
    except Exception:
        stored.undo()
        raise
    log.info("whatsapp connected by Embedded Signup: channel %s, number %s", row.id, account.phone_number_id)
    return row
