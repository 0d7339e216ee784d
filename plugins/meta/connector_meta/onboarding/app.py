"""The Meta app behind Embedded Signup and Facebook Login for Business, and its ``[plugins.meta]`` settings."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from connector_meta.graph import DEFAULT_API_VERSION, DEFAULT_GRAPH_URL, GraphClient

from connector.adapters import ConfigField, FieldType

DEFAULT_DIALOG_URL = "https://www.facebook.com"

CONFIG_FIELDS: tuple[ConfigField, ...] = (
    ConfigField("app_id", "Meta app ID", required=False, default="", help="App Dashboard > App settings > Basic."),
    ConfigField(
        "app_secret",
        "Meta app secret",
        FieldType.SECRET,
        required=False,
        default="",
        help="App Dashboard > App settings > Basic. Exchanges the codes from Meta's window and signs webhooks.",
    ),
    ConfigField(
        "signup_config_id",
        "Embedded Signup configuration ID",
        required=False,
        default="",
        help="Facebook Login for Business > Configurations: a v4 'WhatsApp Embedded Signup' configuration.",
    ),
    ConfigField(
        "login_config_id",
        "Login configuration ID (Pages, Instagram)",
        required=False,
        default="",
        help="Facebook Login for Business > Configurations: one asking for Pages and Instagram accounts with "
        "pages_messaging, pages_manage_metadata, instagram_manage_messages.",
    ),
    ConfigField(
        "business_id",
        "Business portfolio ID (of the app)",
        required=False,
        default="",
        help="Only for the prerequisite check 'business verification'.",
    ),
    ConfigField(
        "system_user_token",
        "System-user token (of the app's business)",
        FieldType.SECRET,
        required=False,
        default="",
        help="Only for the prerequisite check 'business verification' (business_management).",
    ),
    ConfigField("dialog_url", "Meta login URL", FieldType.URL, required=False, default=DEFAULT_DIALOG_URL),
    ConfigField("graph_url", "Graph API URL", FieldType.URL, required=False, default=DEFAULT_GRAPH_URL),
    ConfigField("api_version", "Graph API version", required=False, default=DEFAULT_API_VERSION),
)


@dataclass(frozen=True, slots=True)
class MetaApp:
    """A Meta app (Tech Provider for Embedded Signup) as the onboarding uses it."""

    app_id: str = ""
    app_secret: str = ""
    signup_config_id: str = ""
    login_config_id: str = ""
    business_id: str = ""
    system_user_token: str = ""
    dialog_url: str = DEFAULT_DIALOG_URL
    graph_url: str = DEFAULT_GRAPH_URL
    api_version: str = DEFAULT_API_VERSION

    @classmethod
    def from_settings(cls, values: dict[str, Any]) -> MetaApp:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: str(v) for k, v in values.items() if k in known and v not in (None, "")})

    @property
    def usable(self) -> bool:
        return bool(self.app_id and self.app_secret)

    @property
    def app_token(self) -> str:
        """The app access token ``<APP_ID>|<APP_SECRET>`` (server side only)."""
        return f"{self.app_id}|{self.app_secret}"

    @property
    def message_origin(self) -> str:
        """The origin Meta's window posts its message events from (``https://www.facebook.com``)."""
        parts = urlsplit(self.dialog_url)
        return f"{parts.scheme}://{parts.netloc}"

    def graph(self, token: str, **http_options: Any) -> GraphClient:
        return GraphClient(
            graph_url=self.graph_url, api_version=self.api_version, access_token=token, platform="Meta", **http_options
        )

    def dialog(self, *, config_id: str, redirect_uri: str, state: str, extras: dict[str, Any]) -> str:
        """The URL of Meta's window (the manual login flow of Facebook Login for Business)."""
        params = {
            "client_id": self.app_id,
            "redirect_uri": redirect_uri,
            "state": state,
            "config_id": config_id,
            "response_type": "code",
            "override_default_response_type": "true",
            "extras": json.dumps(extras, separators=(",", ":")),
        }
        return f"{self.dialog_url.rstrip('/')}/{self.api_version}/dialog/oauth?{urlencode(params)}"


def settings_from_sandbox(offered: dict[str, Any]) -> dict[str, Any]:
    """The sandbox's app as settings: it plays ``dialog_url`` and ``graph_url`` both."""
    return {
        "app_id": offered["app_id"],
        "app_secret": offered["app_secret"],
        "signup_config_id": offered["signup_config_id"],
        "login_config_id": offered["login_config_id"],
        "business_id": offered["business_id"],
        "system_user_token": offered["access_token"],
        "dialog_url": offered["dialog_url"],
        "graph_url": offered["graph_url"],
        "api_version": offered["api_version"],
    }
