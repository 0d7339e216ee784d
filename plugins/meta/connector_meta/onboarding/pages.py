"""Facebook Login for Business for Pages and Instagram accounts (onboarding.md §4.9).

The code from the window becomes a user token, extended to a long-lived one; ``GET /me/accounts`` lists the Pages it may manage with their Page
tokens and linked Instagram professional accounts. Each Page installs the app (``POST /<PAGE>/subscribed_apps``
with the Page token), a ``messenger`` connection is stored per Page and an ``instagram`` one per linked account, and
the app's callback for ``page`` / ``instagram`` webhooks is pointed at them (``POST /<APP>/subscriptions`` with the
app token; Meta runs the ``hub.challenge`` handshake).
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from connector_meta.onboarding.app import MetaApp
from connector_meta.onboarding.store import Stored, store_channel
from connector_meta.onboarding.whatsapp import OnboardingError, exchange_code, why

from connector.errors import PlatformError

if TYPE_CHECKING:
    from connector.db.models import ChannelConnection
    from connector.runtime import Runtime

#: Page fields the connector handles (messages, buttons, links and ads, delivery and read receipts).
PAGE_FIELDS = "messages,messaging_postbacks,messaging_referrals,message_deliveries,message_reads"
INSTAGRAM_FIELDS = "messages,messaging_postbacks,messaging_referral,messaging_seen"


def long_lived_token(app: MetaApp, user_token: str) -> str:
    """``grant_type=fb_exchange_token``: a ~60-day user token, whose Page tokens do not expire (Page tokens from the
    short-lived one last an hour)."""
    params = {
        "grant_type": "fb_exchange_token",
        "client_id": app.app_id,
        "client_secret": app.app_secret,
        "fb_exchange_token": user_token,
    }
    try:
        answer = app.graph("", max_attempts=1).get_json("oauth/access_token", params=params)
    except PlatformError as exc:
        raise OnboardingError(f"Meta would not extend the login: {why(exc)}") from exc
    token = answer.get("access_token") if isinstance(answer, dict) else None
    if not isinstance(token, str) or not token:
        raise OnboardingError("Meta's answer to the token extension carried no access_token")
    return token


def managed_pages(app: MetaApp, user_token: str) -> list[dict[str, Any]]:
    """The Pages the owner shared, with Page tokens and linked Instagram accounts."""
    try:
        answer = app.graph(user_token).get_json(
            "me/accounts", params={"fields": "id,name,access_token,tasks,instagram_business_account"}
        )
    except PlatformError as exc:
        raise OnboardingError(f"the shared Pages could not be read: {why(exc)}") from exc
    pages = [p for p in answer.get("data") or [] if isinstance(p, dict) and p.get("id") and p.get("access_token")]
    if not pages:
        raise OnboardingError("no Facebook Page was shared in Meta's window; start again and pick your Page")
    return pages


def subscribe_app(app: MetaApp, object_name: str, callback_url: str, fields: str, verify_token: str) -> None:
    """Point the app's ``object_name`` webhooks at ``callback_url`` (Meta checks it with the handshake)."""
    params = {"object": object_name, "callback_url": callback_url, "fields": fields, "verify_token": verify_token}
    try:
        app.graph(app.app_token).post_json(f"{app.app_id}/subscriptions", data=params)
    except PlatformError as exc:
        raise OnboardingError(
            f"Meta could not send {object_name} webhooks to {callback_url}: {why(exc)}. Meta must reach this "
            "address over HTTPS (see the prerequisites on the first setup page)"
        ) from exc


def connect(
    rt: Runtime, app: MetaApp, *, code: str, redirect_uri: str | None, shop_connection_id: int
) -> list[ChannelConnection]:
    """The server side of Facebook Login for Business; returns the new, tested connections."""
    user_token = long_lived_token(app, exchange_code(app, code, redirect_uri))
    stored: list[Stored] = []
    try:
        for page in managed_pages(app, user_token):
            page_token = str(page["access_token"])
            try:
                app.graph(page_token).post_json(
                    f"{page['id']}/subscribed_apps", data={"subscribed_fields": PAGE_FIELDS}
                )
            except PlatformError as exc:
                raise OnboardingError(f"the Page {page.get('name')} could not install the app: {why(exc)}") from exc
            common = {
                "page_access_token": page_token,
                "app_secret": app.app_secret,
                "graph_url": app.graph_url,
                "api_version": app.api_version,
                "page_id": str(page["id"]),
            }
            verify_token = secrets.token_urlsafe(24)
            messenger = store_channel(
                rt,
                shop_connection_id=shop_connection_id,
                channel="messenger",
                key="page_id",
                name=str(page.get("name") or "Messenger"),
                settings={**common, "verify_token": verify_token},
            )
            stored.append(messenger)
            url = rt.connections.webhook_url("messenger", messenger.row.id)
            subscribe_app(app, "page", url, PAGE_FIELDS, verify_token)
            instagram = page.get("instagram_business_account") or {}
            if instagram.get("id"):
                verify_token = secrets.token_urlsafe(24)
                linked = store_channel(
                    rt,
                    shop_connection_id=shop_connection_id,
                    channel="instagram",
                    key="instagram_account_id",
                    name=f"Instagram of {page.get('name') or page['id']}",
                    settings={**common, "instagram_account_id": str(instagram["id"]), "verify_token": verify_token},
                )
                stored.append(linked)
                url = rt.connections.webhook_url("instagram", linked.row.id)
                subscribe_app(app, "instagram", url, INSTAGRAM_FIELDS, verify_token)
        for item in stored:
            rt.connections.test("channel", item.row.id)
    except Exception:
        for item in reversed(stored):
            item.undo()
        raise
    return [item.row for item in stored]
