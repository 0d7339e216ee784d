"""The Messenger and Instagram channel adapters: one Send API, two channels.

Both send with ``POST /{page-id}/messages`` (Instagram via Facebook Login may use ``/me/messages`` with
the Page token), take the same message shapes with slightly different limits, and receive the same
signed ``entry[].messaging[]`` webhooks (``object: "page"`` vs ``"instagram"``).
"""

from __future__ import annotations

import abc
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import requests
from connector_messenger import render, send_errors
from connector_messenger.config import INSTAGRAM_FIELDS, MESSENGER_FIELDS
from connector_messenger.limits import INSTAGRAM, MESSENGER, Limits
from connector_messenger.outbound import REMOVED_TAGS, MessageTag, MessagingType, MetaSend, ProductCard, envelope
from connector_messenger.webhooks import parse_messaging
from connector_meta import signature, versions
from connector_meta.catalog import MetaCatalog
from connector_meta.graph import DEFAULT_API_VERSION, DEFAULT_GRAPH_URL, GraphClient, graph_error

from connector import model
from connector.adapters import (
    ChannelAdapter,
    ConfigField,
    ConnectionInfo,
    ParsedWebhook,
    ProductOffer,
    WebhookReply,
    WebhookRequest,
)
from connector.errors import (
    AuthenticationError,
    ConnectionTestError,
    MessageLimitError,
    NotFound,
    NotSendable,
    PlatformError,
    SendAction,
    SendError,
)

SUPPORTED: frozenset[type[model.Outbound]] = frozenset(
    {
        model.TextMessage,
        model.ListMessage,
        model.ButtonsMessage,
        model.LinkButtonMessage,
        model.ProductMessage,
        model.ProductListMessage,
        model.CatalogMessage,
    }
)


class MetaMessagingAdapter(ChannelAdapter):
    """What Messenger and Instagram share. Subclasses set the names, limits, webhook object and account."""

    limits: ClassVar[Limits]
    #: ``object`` of this channel's webhooks.
    webhook_object: ClassVar[str]
    #: Message tags the channel accepts: only HUMAN_AGENT is left since Meta removed the others (2026-04-27).
    allowed_tags: ClassVar[frozenset[MessageTag]] = frozenset({MessageTag.HUMAN_AGENT})
    #: How long the Page's list of utility templates is trusted before it is read again (seconds).
    template_cache_seconds: ClassVar[float] = 60.0
    supports = SUPPORTED
    # MetaSend (and the ProductCard objects in it) is stored in the outbox like any canonical message.
    outbound_types: ClassVar[Sequence[type]] = (MetaSend,)
    # No catalog needed: product lists become generic-template carousels drawn from the products' own data.
    product_cards = True
    #: A person may answer for 7 days after the customer's last message (the ``HUMAN_AGENT`` tag).
    human_reply_hours: ClassVar[float] = 7 * 24.0

    def __init__(self, settings: Mapping[str, Any]):
        super().__init__(settings)
        self.graph = GraphClient(
            graph_url=self.settings.get("graph_url") or DEFAULT_GRAPH_URL,
            api_version=self.settings.get("api_version") or DEFAULT_API_VERSION,
            access_token=self.settings.get("page_access_token") or "",
            platform=self.label,
        )
        self._catalog: MetaCatalog | None = None
        self._catalog_lock = threading.Lock()
        self._templates: dict[tuple[str, str], str] = {}
        self._templates_read = float("-inf")

    # ----------------------------------------------------------------- identity

    @property
    @abc.abstractmethod
    def account_id(self) -> str:
        """The id webhooks carry as ``entry[].id`` (Page id or IG id)."""

    @property
    @abc.abstractmethod
    def send_path(self) -> str:
        """Where the Send API is called, relative to ``{graph_url}/{api_version}``."""

    @abc.abstractmethod
    def _account_fields(self) -> str:
        """The fields :meth:`test_connection` reads from the account."""

    # ----------------------------------------------------------------- connection

    @classmethod
    def validate_settings(cls, values: Mapping[str, Any]) -> dict[str, Any]:
        """The fields, and a Graph API version Meta still serves."""
        cleaned = super().validate_settings(values)
        versions.check_settings(cleaned)
        return cleaned

    def test_connection(self) -> ConnectionInfo:
        """Read the Page / Instagram account with the configured token, on a Graph API version Meta still serves."""
        version = str(self.settings.get("api_version") or DEFAULT_API_VERSION)
        problem = versions.connection_problem(self.label, version)
        if problem:
            raise ConnectionTestError(problem)
        try:
            data = self.graph.get_json(self.account_id, params={"fields": self._account_fields()})
        except AuthenticationError as exc:
            raise ConnectionTestError(
                f"{self.label}: the Page access token was refused ({exc}). Generate a new Page token with the "
                "pages_messaging permission (instagram_manage_messages for Instagram)."
            ) from None
        except NotFound:
            raise ConnectionTestError(
                f"{self.label}: {self.account_id} was not found, or the token cannot see it. Check the id and that "
                "the token belongs to this Page."
            ) from None
        except PlatformError as exc:
            expired = versions.connection_problem(self.label, version, exc)
            raise ConnectionTestError(expired or f"{self.label}: could not reach the Graph API: {exc}") from None
        if str(data.get("id")) != self.account_id:
            raise ConnectionTestError(
                f"{self.label}: asked for {self.account_id}, the Graph API answered {data.get('id')}"
            )
        name = data.get("username") or data.get("name") or self.account_id
        return ConnectionInfo(name=str(name), details={k: v for k, v in data.items() if k != "access_token"})

    def catalog(self) -> MetaCatalog | None:
        """The shared Meta catalog when a catalog id is configured (the same one WhatsApp uses)."""
        catalog_id = self.settings.get("catalog_id")
        if not catalog_id:
            return None
        with self._catalog_lock:
            if self._catalog is None:
                self._catalog = MetaCatalog(self.graph, str(catalog_id))
            return self._catalog

    # ----------------------------------------------------------------- messages the core asks for

    def present_products(self, message: model.ProductListMessage, offers: Sequence[ProductOffer]) -> model.Outbound:
        """The product list with a card per offer: rendered as its text, then carousels of up to 10 cards."""
        return MetaSend(message=message, products=tuple(ProductCard.from_offer(offer) for offer in offers))

    @classmethod
    def notification_message(
        cls,
        message: model.Outbound,
        *,
        inside_window: bool,
        order_update: bool,
        utility: model.TemplateMessage | None = None,
    ) -> model.Outbound | None:
        """Inside the window a proactive ``UPDATE``; outside it only an order update, as a Messenger utility message
        (``utility``: the approved Page template, ``messaging_type: UTILITY``). Never a tagged message: Meta refuses
        ``POST_PURCHASE_UPDATE`` since 2026-04-27. Instagram has no utility messages, and promotional messages (back
        in stock) cannot go outside the window on either channel: ``None``."""
        if inside_window:
            return MetaSend(message=message, messaging_type=MessagingType.UPDATE)
        if order_update and utility is not None and cls.utility_messages:
            return MetaSend(message=utility, messaging_type=MessagingType.UTILITY)
        return None

    @classmethod
    def human_message(cls, message: model.Outbound, *, inside_window: bool) -> model.Outbound:
        """A person's reply from the inbox: a ``RESPONSE`` marked as a human agent's inside the 24 hours (resent
        with the tag should Meta's clock disagree), the ``HUMAN_AGENT`` tag after them (up to 7 days)."""
        return MetaSend(message=message, human_agent=True, tag=None if inside_window else MessageTag.HUMAN_AGENT)

    def approved_template(self, name: str, language: str) -> str | None:
        """Why the Page cannot send utility template ``name`` in ``language`` (not created, ``PENDING``,
        ``REJECTED``), or ``None`` when it is approved. The Page's list is read at most once a minute."""
        now = time.monotonic()
        if now - self._templates_read > self.template_cache_seconds or (name, language) not in self._templates:
            listed = self.graph.iter_pages(f"{self.account_id}/message_templates", params={"name": name})
            self._templates.update({(str(t.get("name")), str(t.get("language"))): str(t.get("status")) for t in listed})
            self._templates_read = now
        status = self._templates.get((name, language))
        if status == "APPROVED":
            return None
        return f"{status.lower()} at Meta" if status else "not created on the Page"

    # ----------------------------------------------------------------- sending

    def _prepare(self, message: model.Outbound) -> tuple[MetaSend, list[render.Message]]:
        send = envelope(message)
        if send.messaging_type is MessagingType.MESSAGE_TAG and send.tag is None:
            raise MessageLimitError("tag", "messaging_type MESSAGE_TAG needs a tag")
        if send.human_agent and send.tag not in (None, MessageTag.HUMAN_AGENT):
            raise MessageLimitError("tag", "a human agent's reply can only carry the HUMAN_AGENT tag")
        if send.tag in REMOVED_TAGS:
            raise MessageLimitError(
                "tag",
                f"Meta refuses the {send.tag} tag since 2026-04-27 (code 100, subcode 1893061); outside the window "
                "an order update goes as a Messenger utility message",
            )
        if send.tag is not None and send.tag not in self.allowed_tags:
            allowed = ", ".join(sorted(self.allowed_tags))
            raise MessageLimitError("tag", f"{self.label} accepts only these message tags: {allowed}")
        return send, render.render(send, self.limits, self.label)

    def validate_message(self, message: model.Outbound) -> None:
        """Raise ``MessageLimitError`` if ``message`` breaks a documented limit of this channel."""
        self._prepare(message)

    def send(self, recipient: model.Contact, message: model.Outbound) -> model.SendResult:
        """Validate, render and send; a message that renders to several Send API calls is sent in order.

        Returns the result of the last call (the one carrying the buttons or products). Raises
        ``MessageLimitError`` before anything is sent, or ``SendError`` with the action the core must take.
        """
        send, payloads = self._prepare(message)
        if recipient.channel != self.name:
            raise SendError(f"{recipient.channel} contact cannot be messaged on {self.name}", action=SendAction.BUG)
        if isinstance(send.message, model.TemplateMessage):
            self._check_utility(send.message)
        # Once a human agent's reply needed HUMAN_AGENT, the rest of its sequence needs it too.
        tag = send.tag
        result: model.SendResult | None = None
        for payload in payloads:
            result, tag = self._send_one(recipient.channel_user_id, payload, send, tag)
        assert result is not None  # render never returns an empty list
        return result

    def _check_utility(self, template: model.TemplateMessage) -> None:
        """Refuse (:class:`NotSendable`, skipped by the core) a utility template the Page has no approval for."""
        try:
            problem = self.approved_template(template.name, template.language)
        except PlatformError as exc:
            raise send_errors.from_exception(exc, self.label) from None
        if problem:
            raise NotSendable(
                f"outside the 24-hour window and the Page's Messenger utility template {template.name} "
                f"({template.language}) is {problem}; nothing was sent"
            )

    def _body(
        self, recipient_id: str, payload: render.Message, send: MetaSend, tag: MessageTag | None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"recipient": {"id": recipient_id}}
        if tag is not None:
            body["messaging_type"] = MessagingType.MESSAGE_TAG.value
            body["tag"] = tag.value
        else:
            body["messaging_type"] = send.messaging_type.value
        body["message"] = payload
        return body

    def _send_one(
        self, recipient_id: str, payload: render.Message, send: MetaSend, tag: MessageTag | None
    ) -> tuple[model.SendResult, MessageTag | None]:
        try:
            response = self.graph.post(self.send_path, json=self._body(recipient_id, payload, send, tag))
        except PlatformError as exc:
            info = graph_error(exc)
            # A person's reply refused for the closed 24 h window may go out with HUMAN_AGENT (7 days).
            if not (send.human_agent and tag is None and info is not None and send_errors.outside_window(info)):
                raise send_errors.from_exception(exc, self.label) from None
            tag = MessageTag.HUMAN_AGENT
            try:
                response = self.graph.post(self.send_path, json=self._body(recipient_id, payload, send, tag))
            except PlatformError as retry_exc:
                raise send_errors.from_exception(retry_exc, self.label) from None
        return self._result(response), tag

    def _result(self, response: requests.Response) -> model.SendResult:
        try:
            answer = response.json()
        except ValueError:
            answer = None
        message_id = answer.get("message_id") if isinstance(answer, dict) else None
        if not message_id:
            raise SendError(
                f"{self.label} accepted the message but returned no message_id: {response.text[:200]!r}",
                action=SendAction.BUG,
            )
        return model.SendResult(message_id=str(message_id), recipient_id=str(answer.get("recipient_id", "")))

    # ----------------------------------------------------------------- webhooks

    def handshake(self, request: WebhookRequest) -> WebhookReply | None:
        """Answer Meta's ``GET`` subscription check with the ``hub.challenge`` (or 403)."""
        return signature.handshake(request, self.settings.get("verify_token") or "")

    def verify_webhook(self, request: WebhookRequest) -> None:
        """Check ``X-Hub-Signature-256`` over the raw body; ``WebhookRejected(401)`` when it does not match."""
        signature.verify_signature(request, self.settings.get("app_secret") or "")

    def webhook_routing_ids(self) -> frozenset[str]:
        """The Page or Instagram account id: ``entry[].id`` of the deliveries meant for this connection."""
        return frozenset(filter(None, (self.account_id,)))

    def parse_webhook(self, request: WebhookRequest) -> ParsedWebhook:
        """Turn ``entry[].messaging[]`` into inbound messages and delivery statuses (no network)."""
        return parse_messaging(
            request.body,
            request.json(),
            channel=self.name,
            expected_object=self.webhook_object,
            account_id=self.account_id,
        )


class MessengerAdapter(MetaMessagingAdapter):
    """Facebook Messenger through a Page."""

    name = "messenger"
    label = "Messenger"
    config_fields: ClassVar[Sequence[ConfigField]] = MESSENGER_FIELDS
    limits = MESSENGER
    webhook_object = "page"
    utility_messages = True

    @property
    def account_id(self) -> str:
        return str(self.settings.get("page_id") or "")

    @property
    def send_path(self) -> str:
        return f"{self.account_id}/messages"

    def _account_fields(self) -> str:
        return "id,name"


class InstagramAdapter(MetaMessagingAdapter):
    """Instagram Direct for a professional account linked to a Page (Instagram messaging via Facebook Login)."""

    name = "instagram"
    label = "Instagram"
    config_fields: ClassVar[Sequence[ConfigField]] = INSTAGRAM_FIELDS
    limits = INSTAGRAM
    webhook_object = "instagram"

    @property
    def account_id(self) -> str:
        return str(self.settings.get("instagram_account_id") or "")

    @property
    def send_path(self) -> str:
        page_id = self.settings.get("page_id")
        return f"{page_id}/messages" if page_id else "me/messages"

    def _account_fields(self) -> str:
        return "id,username,name"
