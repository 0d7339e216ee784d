"""The WhatsApp Cloud API channel: send messages, receive webhooks, publish the catalog."""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from connector_meta import signature, versions
from connector_meta.catalog import MetaCatalog
from connector_meta.graph import DEFAULT_API_VERSION, DEFAULT_GRAPH_URL, GraphClient
from connector_meta.ids import BSUID
from connector_whatsapp import flows, signals
from connector_whatsapp.contact_request import ContactInfoRequest
from connector_whatsapp.inbound import parse_request
from connector_whatsapp.limits import DEFAULT_LIMITS, SUPPORTED_TYPES, WhatsAppLimits, validate_message
from connector_whatsapp.marketing import MarketingRoute, MarketingSettings
from connector_whatsapp.render import render_message
from connector_whatsapp.send_errors import send_error

from connector import model
from connector.adapters import (
    ApprovedTemplate,
    ChannelAdapter,
    ConfigField,
    ConnectionInfo,
    FieldType,
    ParsedWebhook,
    WebhookReply,
    WebhookRequest,
)
from connector.errors import AuthenticationError, ConnectionTestError, NotFound, PlatformError, SendAction, SendError

log = logging.getLogger(__name__)


class WhatsAppAdapter(ChannelAdapter):
    """WhatsApp Business Cloud API, one registered phone number per connection.

    Sends every canonical outbound type (text, list, reply buttons, CTA URL, product, product list,
    catalog, template) after checking Meta's limits, maps Meta's error codes to the core's
    :class:`~connector.errors.SendAction`, and turns webhooks into canonical inbound messages and
    delivery statuses. Its catalog is the Meta catalog connected to the WhatsApp Business Account.
    """

    name: ClassVar[str] = "whatsapp"
    label: ClassVar[str] = "WhatsApp Cloud API"
    config_fields: ClassVar[tuple[ConfigField, ...]] = (
        ConfigField("phone_number_id", "Phone number ID", help="WhatsApp Manager > API Setup: 'Phone number ID'."),
        ConfigField(
            "access_token",
            "Access token",
            FieldType.SECRET,
            help="A permanent system-user token with whatsapp_business_messaging and catalog_management.",
        ),
        ConfigField("app_secret", "App secret", FieldType.SECRET, help="App settings > Basic; signs every webhook."),
        ConfigField(
            "verify_token",
            "Webhook verify token",
            FieldType.SECRET,
            help="Any random string; enter the same value as 'Verify token' in the app's webhook settings.",
        ),
        ConfigField("waba_id", "WhatsApp Business Account ID", required=False, default=""),
        ConfigField(
            "business_portfolio_id",
            "Business portfolio ID",
            required=False,
            default="",
            help="Meta Business Suite > Business settings > Business info: 'Business portfolio ID'. Numbers of one "
            "portfolio share WhatsApp's messaging limit; empty: the numbers of one WhatsApp Business Account do.",
        ),
        ConfigField(
            "catalog_id",
            "Catalog ID",
            required=False,
            default="",
            help="Commerce Manager catalog connected to the WhatsApp Business Account (needed for product messages).",
        ),
        ConfigField(
            "marketing_messages_api",
            "Send marketing through the Marketing Messages API",
            FieldType.BOOLEAN,
            required=False,
            default=False,
            help="Marketing templates (back-in-stock) go through /marketing_messages once the account signed Meta's "
            "terms (read from the API; needs the WhatsApp Business Account ID).",
        ),
        ConfigField(
            "marketing_product_policy",
            "Marketing Messages API product policy",
            FieldType.CHOICE,
            required=False,
            default="CLOUD_API_FALLBACK",
            choices=("CLOUD_API_FALLBACK", "STRICT"),
            help="CLOUD_API_FALLBACK: deliver through the Cloud API when the Marketing Messages API cannot; STRICT: "
            "only through it.",
        ),
        ConfigField(
            "marketing_ttl_seconds",
            "Marketing template time-to-live (seconds)",
            FieldType.INTEGER,
            required=False,
            default=43200,
            help="Set on marketing templates: WhatsApp drops an alert not delivered within it (12 h to 30 days).",
        ),
        ConfigField(
            "flows",
            "Use WhatsApp Flows (forms)",
            FieldType.BOOLEAN,
            required=False,
            default=True,
            help="Collect addresses and checkout details in a form inside WhatsApp (one message instead of a "
            "dialogue); needs the WhatsApp Business Account ID. Off: the chat asks step by step.",
        ),
        ConfigField(
            "capi_dataset_id",
            "Conversions API dataset ID",
            FieldType.SECRET,
            required=False,
            default="",
            help="The dataset of the WhatsApp Business Account (POST /<WABA_ID>/dataset) that paid orders from "
            "click-to-WhatsApp ads are reported to as Purchase events ([notify] conversions_api_enabled).",
        ),
        ConfigField(
            "capi_access_token",
            "Conversions API access token",
            FieldType.SECRET,
            required=False,
            default="",
            help="The token the Conversions API events are sent with (empty: the connection's access token).",
        ),
        ConfigField("graph_url", "Graph API URL", FieldType.URL, required=False, default=DEFAULT_GRAPH_URL),
        versions.API_VERSION_FIELD,
        ConfigField(
            "two_step_pin",
            "Two-step verification PIN",
            FieldType.SECRET,
            required=False,
            default="",
            help="Set by 'Connect WhatsApp' when it registers the number; needed to register it again.",
        ),
    )
    supports: ClassVar[frozenset[type[model.Outbound]]] = SUPPORTED_TYPES
    #: Message limits; a subclass (or a test) may tighten or relax them when Meta changes one.
    limits: ClassVar[WhatsAppLimits] = DEFAULT_LIMITS
    webhook_object: ClassVar[str] = "whatsapp_business_account"
    outbound_types: ClassVar[tuple[type, ...]] = (ContactInfoRequest,)

    def __init__(self, settings: Mapping[str, Any]):
        super().__init__(settings)
        self.phone_number_id = str(self.settings.get("phone_number_id") or "")
        self.graph = GraphClient(
            graph_url=self.settings.get("graph_url") or DEFAULT_GRAPH_URL,
            api_version=self.graph_version,
            access_token=str(self.settings.get("access_token") or ""),
            platform="WhatsApp Cloud API",
        )
        self._catalog: MetaCatalog | None = None
        self.marketing = MarketingRoute(
            self.graph,
            MarketingSettings(
                enabled=str(self.settings.get("marketing_messages_api")).lower() in ("true", "1", "yes", "on"),
                product_policy=str(self.settings.get("marketing_product_policy") or "CLOUD_API_FALLBACK"),
                ttl_seconds=int(self.settings.get("marketing_ttl_seconds") or 43200),
                waba_id=str(self.settings.get("waba_id") or ""),
            ),
        )

    @property
    def graph_version(self) -> str:
        """The Graph API version this connection calls."""
        return str(self.settings.get("api_version") or DEFAULT_API_VERSION)

    # ----------------------------------------------------------------- connection

    @classmethod
    def validate_settings(cls, values: Mapping[str, Any]) -> dict[str, Any]:
        """The fields, and a Graph API version Meta still serves."""
        cleaned = super().validate_settings(values)
        versions.check_settings(cleaned)
        return cleaned

    def test_connection(self) -> ConnectionInfo:
        """``GET /{phone_number_id}``: proves the token works and the number belongs to it, on a Graph API version
        Meta still serves."""
        version = self.graph_version
        problem = versions.connection_problem("WhatsApp", version)
        if problem:
            raise ConnectionTestError(problem)
        fields = "display_phone_number,verified_name,quality_rating,code_verification_status"
        try:
            data = self.graph.get_json(self.phone_number_id, params={"fields": fields})
        except AuthenticationError as exc:
            raise ConnectionTestError(f"The access token was refused; create a new system-user token. ({exc})") from exc
        except NotFound as exc:
            raise ConnectionTestError(
                f"Phone number ID {self.phone_number_id!r} was not found for this token; copy it from "
                f"WhatsApp Manager > API Setup. ({exc})"
            ) from exc
        except PlatformError as exc:
            expired = versions.connection_problem("WhatsApp", version, exc)
            raise ConnectionTestError(expired or f"WhatsApp could not be reached: {exc}") from exc
        name = data.get("verified_name") or data.get("display_phone_number") or self.phone_number_id
        details = {k: data[k] for k in ("display_phone_number", "verified_name", "quality_rating") if k in data}
        return ConnectionInfo(name=str(name), details=details)

    # ----------------------------------------------------------------- sending

    def messaging_limit(self) -> tuple[int | None, str]:
        """The business portfolio's messaging limit (unique users outside the window per 24 h, 0 = unlimited) and
        Meta's value for it, from ``whatsapp_business_manager_messaging_limit`` (v24.0+); ``None`` when unset."""
        field = "whatsapp_business_manager_messaging_limit"
        data = self.graph.get_json(self.phone_number_id, params={"fields": field})
        raw = data.get(field) if isinstance(data, dict) else None
        return signals.reach_limit_of(raw), str(raw or "")

    def _with_catalog(self, message: model.Outbound) -> model.Outbound:
        """Product messages without a catalog id use the connection's catalog."""
        catalog_id = self.settings.get("catalog_id")
        if (
            isinstance(message, model.ProductMessage | model.ProductListMessage | model.ProductCarouselMessage)
            and not message.catalog_id
            and catalog_id
        ):
            return dataclasses.replace(message, catalog_id=str(catalog_id))
        return message

    def flows_enabled(self) -> bool:
        """Flows are on for this number (the ``flows`` setting) and the account is known (``waba_id``)."""
        on = str(self.settings.get("flows", True)).lower() in ("true", "1", "yes", "on")
        return on and bool(self.settings.get("waba_id"))

    def publish_flow(self, name: str, flow_json: Mapping[str, Any], categories: Sequence[str]) -> str:
        """Create, upload and publish the flow through the Graph API once per version (:mod:`connector_whatsapp.flows`)."""
        return flows.publish(self.graph, str(self.settings.get("waba_id") or ""), name, flow_json, categories)

    def validate_message(self, message: model.Outbound) -> None:
        """Raise :class:`~connector.errors.MessageLimitError` for any documented limit ``message`` breaks."""
        validate_message(self._with_catalog(message), self.limits)

    @staticmethod
    def recipient_id(recipient: model.Contact) -> str:
        """Whom to send to: the wa_id (phone digits, goes in ``to``), or the business-scoped user id when there is no
        phone (goes in ``recipient``). A "phone" that is itself a BSUID (the core passes the outbox row's recipient as
        both) is no phone number: its digits would address a stranger."""
        user_id = recipient.channel_user_id or ""
        if user_id.lstrip("+").isdigit():
            return user_id.lstrip("+")
        phone = recipient.phone or ""
        if phone and not BSUID.fullmatch(phone):
            return "".join(ch for ch in phone if ch.isdigit())
        return user_id

    def send(self, recipient: model.Contact, message: model.Outbound) -> model.SendResult:
        """Validate, render and ``POST /{phone_number_id}/messages``; raise :class:`SendError` on refusal.

        A timeout after the request left is reported as ``RETRY``; the core should reconcile through
        status webhooks (matched by wamid) before resending, since WhatsApp has no idempotency key."""
        return self._send(recipient, message, None)

    def send_tracked(self, recipient: model.Contact, message: model.Outbound, reference: str) -> model.SendResult:
        """:meth:`send` with ``reference`` as ``biz_opaque_callback_data`` (at most 512 characters), which
        WhatsApp echoes in every status webhook of the message."""
        return self._send(recipient, message, reference[:512])

    def _send(self, recipient: model.Contact, message: model.Outbound, reference: str | None) -> model.SendResult:
        message = self._with_catalog(message)
        validate_message(message, self.limits)
        to = self.recipient_id(recipient)
        if not to:
            raise SendError("recipient has no WhatsApp id or phone number", action=SendAction.UNDELIVERABLE)
        payload = render_message(to, message)
        if reference is not None:
            payload["biz_opaque_callback_data"] = reference
        endpoint = "messages"
        if self.marketing.applies(message):
            endpoint = "marketing_messages"
            payload.update(self.marketing.extra_fields())
        try:
            answer = self.graph.post_json(f"{self.phone_number_id}/{endpoint}", json=payload)
        except PlatformError as exc:
            raise send_error(exc) from exc
        messages = answer.get("messages") or []
        if not messages or not messages[0].get("id"):
            raise SendError(
                f"WhatsApp accepted the request but returned no message id: {answer}", action=SendAction.BUG
            )
        contacts = answer.get("contacts") or [{}]
        recipient_id = contacts[0].get("wa_id") or contacts[0].get("user_id") or to
        return model.SendResult(message_id=str(messages[0]["id"]), recipient_id=str(recipient_id))

    def mark_read(self, message_id: str, *, typing: bool = False) -> bool:
        """Blue ticks on the customer's message (``status: "read"``) and, with ``typing``, WhatsApp's typing
        indicator, which shows until our next message or for 25 seconds. A refusal is logged, never raised."""
        payload: dict[str, Any] = {"messaging_product": "whatsapp", "status": "read", "message_id": message_id}
        if typing:
            payload["typing_indicator"] = {"type": "text"}
        try:
            answer = self.graph.post_json(f"{self.phone_number_id}/messages", json=payload)
        except PlatformError as exc:
            log.warning("WhatsApp refused the read receipt for %s: %s", message_id, exc)
            return False
        return bool(isinstance(answer, dict) and answer.get("success"))

    # ----------------------------------------------------------------- webhooks

    def handshake(self, request: WebhookRequest) -> WebhookReply | None:
        """Answer Meta's ``GET`` subscription check with the challenge (200) or 403."""
        return signature.handshake(request, str(self.settings.get("verify_token") or ""))

    def verify_webhook(self, request: WebhookRequest) -> None:
        """Check ``X-Hub-Signature-256`` over the raw body; ``WebhookRejected(401)`` when missing or wrong."""
        signature.verify_signature(request, str(self.settings.get("app_secret") or ""))

    def parse_webhook(self, request: WebhookRequest) -> ParsedWebhook:
        """Messages and statuses of one delivery; ``delivery_id`` is a hash of the raw body. A change for another
        phone number of the same Meta app (``metadata.phone_number_id``) is skipped, never taken for this one."""
        return parse_request(request, phone_number_id=self.phone_number_id)

    def webhook_routing_ids(self) -> frozenset[str]:
        """This number's phone number id, and ``waba:<id>`` for its account's changes (no phone number in them)."""
        waba_id = str(self.settings.get("waba_id") or "")
        return frozenset(filter(None, (self.phone_number_id, f"waba:{waba_id}" if waba_id else "")))

    # ----------------------------------------------------------------- templates a person may pick

    def approved_templates(self) -> list[ApprovedTemplate]:
        """The account's ``APPROVED`` templates (``GET /{waba_id}/message_templates``) a person can fill in the
        inbox: text parameters only (a template with a media header needs a file the inbox does not ask for)."""
        waba_id = str(self.settings.get("waba_id") or "")
        if not waba_id:
            return []
        found: list[ApprovedTemplate] = []
        for template in self.graph.iter_pages(f"{waba_id}/message_templates", params={"status": "APPROVED"}):
            components = {str(c.get("type", "")).upper(): c for c in template.get("components") or []}
            header = components.get("HEADER") or {}
            if (header and str(header.get("format", "TEXT")).upper() != "TEXT") or _placeholders(header.get("text")):
                continue
            body = str((components.get("BODY") or {}).get("text") or "")
            buttons = (components.get("BUTTONS") or {}).get("buttons") or []
            found.append(
                ApprovedTemplate(
                    name=str(template.get("name") or ""),
                    language=str(template.get("language") or ""),
                    category=str(template.get("category") or "").lower(),
                    body=body,
                    parameters=_placeholders(body),
                    button_parameters=sum(1 for b in buttons if _placeholders(b.get("url"))),
                )
            )
        return found

    # ----------------------------------------------------------------- catalog

    def catalog(self) -> MetaCatalog | None:
        """The Meta catalog connected to this number's WhatsApp Business Account, if one is configured."""
        catalog_id = self.settings.get("catalog_id")
        if not catalog_id:
            return None
        if self._catalog is None:
            self._catalog = MetaCatalog(self.graph, str(catalog_id))
        return self._catalog


_PLACEHOLDER = re.compile(r"\{\{\s*(\d+)\s*\}\}")


def _placeholders(text: object) -> int:
    """How many numbered variables (``{{1}}``, ``{{2}}``...) ``text`` takes."""
    return len(set(_PLACEHOLDER.findall(text))) if isinstance(text, str) else 0
