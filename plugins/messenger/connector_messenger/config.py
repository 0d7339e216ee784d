"""Connection settings of the Messenger and Instagram adapters."""

from __future__ import annotations

from connector_meta.graph import DEFAULT_GRAPH_URL
from connector_meta.versions import API_VERSION_FIELD

from connector.adapters import ConfigField, FieldType

PAGE_ID = ConfigField(
    "page_id",
    "Facebook Page ID",
    help="The Page customers message (Messenger), or the Page linked to the Instagram professional account.",
)
INSTAGRAM_ACCOUNT_ID = ConfigField(
    "instagram_account_id",
    "Instagram professional account ID",
    help="The IG ID webhooks carry as entry[].id (GET /{page-id}?fields=instagram_business_account returns it).",
)
INSTAGRAM_PAGE_ID = ConfigField(
    "page_id",
    "Linked Facebook Page ID",
    required=False,
    help="Optional: send through /{page-id}/messages instead of /me/messages.",
)

COMMON_FIELDS: tuple[ConfigField, ...] = (
    ConfigField(
        "page_access_token",
        "Page access token",
        FieldType.SECRET,
        help="A Page token from someone who can perform the MESSAGE task; pages_messaging "
        "(Instagram: instagram_manage_messages) permission.",
    ),
    ConfigField("app_secret", "App secret", FieldType.SECRET, help="Signs webhooks (X-Hub-Signature-256)."),
    ConfigField(
        "verify_token",
        "Webhook verify token",
        FieldType.SECRET,
        help="Any secret string; enter the same in the App Dashboard.",
    ),
    ConfigField(
        "catalog_id",
        "Meta catalog ID",
        required=False,
        help="The commerce catalog of your Facebook/Instagram shop. Shared with WhatsApp: synced once per catalog.",
    ),
    ConfigField("graph_url", "Graph API URL", FieldType.URL, required=False, default=DEFAULT_GRAPH_URL),
    API_VERSION_FIELD,
)

MESSENGER_FIELDS: tuple[ConfigField, ...] = (PAGE_ID, *COMMON_FIELDS)
INSTAGRAM_FIELDS: tuple[ConfigField, ...] = (INSTAGRAM_ACCOUNT_ID, INSTAGRAM_PAGE_ID, *COMMON_FIELDS)
