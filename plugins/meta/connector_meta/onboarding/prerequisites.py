"""The one-time steps no approval flow can do, each with a link and a check (the wizard's checklist, ``doctor``).

What the Graph API tells: the app id and secret belong together (``debug_token`` of the app token), and the
business portfolio's ``verification_status``. What it does not tell (onboarding.md §4.1, §6): Tech Provider status
and App Review; the check then says so and where to look. Public HTTPS is checked against ``[server] public_url``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from connector_meta.onboarding.app import MetaApp
from connector_meta.onboarding.whatsapp import why

from connector.dashboard.reachability import check_public_https
from connector.errors import PlatformError
from connector.i18n.catalogs import N_

if TYPE_CHECKING:
    from connector.dashboard.doctor import Check
    from connector.runtime import Runtime


@dataclass(frozen=True, slots=True)
class Prerequisite:
    """One item of the checklist: what it is, where to do it, and what its check found."""

    key: str
    title: str
    link: str
    status: str = "unknown"  # ok | warn | fail | unknown
    detail: str = ""
    fix: str = ""


ITEMS = {
    "meta_app": (
        N_("A Meta app (its id and secret in [plugins.meta])"),
        "https://developers.facebook.com/apps/",
    ),
    "tech_provider": (
        N_("Tech Provider status and an Embedded Signup configuration (v4)"),
        "https://developers.facebook.com/docs/whatsapp/solution-providers/get-started-for-tech-providers",
    ),
    "business_verification": (
        N_("Business verification of the app's business portfolio"),
        "https://business.facebook.com/settings/security",
    ),
    "public_https": (
        N_("An HTTPS address Meta and the shop can reach"),
        "https://github.com/chatshop/connector/blob/main/docs/operations.md#public-https",
    ),
}


def _item(key: str, status: str, detail: str, fix: str = "") -> Prerequisite:
    title, link = ITEMS[key]
    return Prerequisite(key, title, link, status, detail, fix)


def check_meta_app(app: MetaApp) -> Prerequisite:
    """App id and secret set, and Meta accepts them together (``debug_token`` of the app token)."""
    if not app.usable:
        return _item(
            "meta_app",
            "fail",
            "no app id and secret configured",
            "create an app (type Business) and set [plugins.meta] app_id and app_secret (or the Plugins page)",
        )
    try:
        answer = app.graph(app.app_token, max_attempts=1).get_json("debug_token", params={"input_token": app.app_token})
    except PlatformError as exc:
        return _item("meta_app", "fail", f"Meta refused the app id and secret: {why(exc)}", "copy both again")
    data = answer.get("data") if isinstance(answer, dict) else None
    if not isinstance(data, dict) or not data.get("is_valid"):
        return _item("meta_app", "fail", "Meta says the app token is not valid", "copy the app secret again")
    return _item("meta_app", "ok", f"app {data.get('application') or ''} ({app.app_id})".replace("  ", " "))


def check_tech_provider(app: MetaApp) -> Prerequisite:
    """The Embedded Signup configuration is set; Tech Provider status itself is not readable through the API."""
    if not app.signup_config_id:
        return _item(
            "tech_provider",
            "fail",
            "no Embedded Signup configuration id set: 'Connect WhatsApp' cannot open Meta's window",
            "in Facebook Login for Business > Configurations create a 'WhatsApp Embedded Signup' (v4) configuration "
            "and set [plugins.meta] signup_config_id; until then use the manual fields under 'Advanced'",
        )
    return _item(
        "tech_provider",
        "unknown",
        f"configuration {app.signup_config_id} set; Meta's API does not say whether the app is a Tech Provider",
        "check App Dashboard > WhatsApp > Quickstart: 'Tech Provider' and advanced access to "
        "whatsapp_business_management",
    )


def check_business_verification(app: MetaApp) -> Prerequisite:
    """``GET /<BUSINESS_ID>?fields=verification_status`` with the business's system-user token."""
    if not app.business_id or not app.system_user_token:
        return _item(
            "business_verification",
            "unknown",
            "not checked: [plugins.meta] business_id and system_user_token are not set",
            "see Business settings > Security Center, or set both to let this check ask Meta",
        )
    try:
        answer = app.graph(app.system_user_token, max_attempts=1).get_json(
            app.business_id, params={"fields": "name,verification_status"}
        )
    except PlatformError as exc:
        return _item("business_verification", "fail", f"Meta did not answer: {why(exc)}", "check both settings")
    status = str(answer.get("verification_status") or "unknown")
    if status == "verified":
        return _item("business_verification", "ok", f"{answer.get('name') or app.business_id} is verified")
    return _item(
        "business_verification",
        "warn",
        f"verification status: {status}",
        "start or finish it in Business settings > Security Center (Meta takes minutes to 14 working days)",
    )


def check_https(rt: Runtime) -> Prerequisite:
    """``[server] public_url`` is public HTTPS and answers (demo mode: the sandboxes run on this machine)."""
    if rt.config.server.demo:
        return _item("public_https", "ok", "demo mode: the sandboxes run on this machine and reach it directly")
    found = check_public_https(rt.config.public_url)
    return _item("public_https", found.status, found.detail, found.fix)


def run(rt: Runtime, app: MetaApp, key: str) -> Prerequisite:
    """Run the check ``key`` (one of :data:`ITEMS`)."""
    checks = {
        "meta_app": lambda: check_meta_app(app),
        "tech_provider": lambda: check_tech_provider(app),
        "business_verification": lambda: check_business_verification(app),
        "public_https": lambda: check_https(rt),
    }
    if key not in checks:
        raise KeyError(key)
    return checks[key]()


def unchecked() -> list[Prerequisite]:
    """The checklist before any check ran."""
    return [Prerequisite(key, title, link) for key, (title, link) in ITEMS.items()]


def doctor_checks(rt: Runtime) -> list[Check]:
    """Every prerequisite as a ``connector doctor`` finding (``unknown`` is reported as ``warn``); nothing when no
    Meta app is configured (channels connected by hand need none)."""
    from connector.dashboard.doctor import Check

    app = MetaApp.from_settings(rt.plugin_config("meta"))
    if not app.app_id:
        return []
    checks = [check_meta_app(app), check_tech_provider(app), check_business_verification(app)]
    found = [
        Check(f"meta: {item.title}", "warn" if item.status == "unknown" else item.status, item.detail, item.fix)
        for item in checks
    ]
    if checks[0].status == "ok":
        found += token_checks(rt, app)
    return found


#: Token settings of the Meta channels.
TOKEN_SETTINGS = {"whatsapp": "access_token", "messenger": "page_access_token", "instagram": "page_access_token"}
#: A token that expires sooner than this is reported.
EXPIRY_WARNING = timedelta(days=7)


def token_checks(rt: Runtime, app: MetaApp) -> list[Check]:
    """Each Meta channel's token as Meta sees it (``debug_token``): still valid, and not about to expire. Business
    tokens from Embedded Signup cannot be refreshed without the owner: connecting again renews them."""
    from connector.dashboard.doctor import Check

    found = []
    graph = app.graph(app.app_token, max_attempts=1)
    for row in rt.connections.channels():
        setting = TOKEN_SETTINGS.get(row.channel)
        if setting is None:
            continue
        label = f"meta: token of channel {row.id} ({row.channel}, {row.name})"
        renew = "connect it again in the setup's channel step (Connect WhatsApp / Facebook and Instagram)"
        try:
            answer = graph.get_json("debug_token", params={"input_token": rt.connections.settings_of(row)[setting]})
        except PlatformError as exc:
            found.append(Check(label, "warn", f"Meta did not say: {why(exc)}"))
            continue
        data = answer.get("data") if isinstance(answer, dict) else {}
        data = data if isinstance(data, dict) else {}
        expires = int(data.get("expires_at") or 0)
        if not data.get("is_valid"):
            reason = (data.get("error") or {}).get("message") or "revoked or expired"
            found.append(Check(label, "fail", f"Meta says the token is not valid: {reason}", renew))
        elif expires and datetime.fromtimestamp(expires, UTC) - datetime.now(UTC) < EXPIRY_WARNING:
            found.append(
                Check(label, "warn", f"expires {datetime.fromtimestamp(expires, UTC):%Y-%m-%d %H:%M} UTC", renew)
            )
        else:
            found.append(
                Check(
                    label,
                    "ok",
                    "valid"
                    + (
                        f", expires {datetime.fromtimestamp(expires, UTC):%Y-%m-%d}" if expires else ", does not expire"
                    ),
                )
            )
    return found
