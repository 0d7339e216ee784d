"""What a shop-platform or messaging-channel plugin implements.

A plugin contributes adapter *classes* through the ``connector_register_shop_adapters`` and
``connector_register_channel_adapters`` hooks. The core creates one adapter instance per connection,
passing the connection's decrypted settings, and calls the methods below. Adapters do the platform
I/O and translate to and from :mod:`connector.model`; the core does storage, scheduling, retries of
whole jobs, deduplication and business rules.

Adapters must be safe to call from several worker threads at once (one instance may be shared).
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from connector import model
from connector.errors import SettingsError

if TYPE_CHECKING:
    from werkzeug.datastructures import Headers

# --------------------------------------------------------------------------- settings


class FieldType(enum.StrEnum):
    STRING = "string"
    SECRET = "secret"  # encrypted at rest, never shown back or logged
    URL = "url"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    CHOICE = "choice"


@dataclass(frozen=True, slots=True)
class ConfigField:
    """One setting a plugin needs, declared so the core can validate, store, encrypt and render it."""

    name: str
    label: str
    type: FieldType = FieldType.STRING
    required: bool = True
    default: Any = None
    help: str = ""
    choices: tuple[str, ...] = ()
    #: Set by the connector itself (a token renewed without the owner, how the connection was made): stored and
    #: validated like the others, but not shown in forms.
    managed: bool = False

    @property
    def secret(self) -> bool:
        return self.type is FieldType.SECRET

    def coerce(self, value: Any) -> Any:
        """Return ``value`` converted to this field's type, or raise ``ValueError`` saying why not."""
        if value is None or value == "":
            if self.required and self.default is None:
                raise ValueError("is required")
            return self.default
        if self.type is FieldType.INTEGER:
            try:
                return int(value)
            except (TypeError, ValueError):
                raise ValueError(f"must be a whole number, got {value!r}") from None
        if self.type is FieldType.BOOLEAN:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(f"must be true or false, got {value!r}")
        value = str(value).strip()
        if self.type is FieldType.URL:
            if not value.startswith(("http://", "https://")):
                raise ValueError(f"must be an http:// or https:// URL, got {value!r}")
            return value.rstrip("/")
        if self.type is FieldType.CHOICE and value not in self.choices:
            raise ValueError(f"must be one of {', '.join(self.choices)}, got {value!r}")
        return value


def validate_settings(fields: Sequence[ConfigField], values: Mapping[str, Any]) -> dict[str, Any]:
    """Validate ``values`` against ``fields``; return the cleaned settings or raise :class:`SettingsError`."""
    known = {f.name for f in fields}
    errors = {name: "is not a setting of this plugin" for name in values if name not in known}
    cleaned: dict[str, Any] = {}
    for f in fields:
        try:
            cleaned[f.name] = f.coerce(values.get(f.name))
        except ValueError as exc:
            errors[f.name] = str(exc)
    if errors:
        raise SettingsError(errors)
    return cleaned


# --------------------------------------------------------------------------- webhooks


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """The raw request as received, so signatures can be checked over the exact bytes."""

    method: str
    url: str
    headers: Mapping[str, str] | Headers  # case-insensitive (werkzeug's Headers from the web app)
    query: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON; raises :class:`~connector.errors.WebhookRejected` (400) when it is not, or
        nests deeper than :data:`connector.safejson.MAX_DEPTH`. Lone surrogates in strings become U+FFFD."""
        from connector import safejson
        from connector.errors import WebhookRejected

        try:
            return safejson.loads(self.body)
        except safejson.UnsafeJSON as exc:
            raise WebhookRejected(400, f"body refused: {exc}") from None
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise WebhookRejected(400, f"body is not valid JSON: {exc}") from None


@dataclass(frozen=True, slots=True)
class WebhookReply:
    """An answer the plugin wants sent as is (a ``hub.challenge`` echo, a ping acknowledgement)."""

    status: int = 200
    body: str = ""
    content_type: str = "text/plain"


@dataclass(slots=True)
class ParsedWebhook:
    """A verified webhook turned into canonical events.

    ``delivery_id`` identifies this delivery so the core stores it once: the platform's id where it is
    unique per change (``X-Shopify-Webhook-Id``, Shopware ``source.eventId``), the platform's id plus a
    hash of the body where it is not (WooCommerce's header repeats within one second), or a hash of the
    body where the platform sends none (Meta). ``events`` are
    :class:`~connector.model.ShopEvent` for shops and ``Inbound``/``DeliveryStatus`` for channels.
    """

    delivery_id: str
    topic: str
    events: list[Any] = field(default_factory=list)
    #: When the platform sent the delivery, where it says so (Shopware's signed ``timestamp``, Shopify's
    #: ``X-Shopify-Triggered-At``). The core refuses deliveries older than ``[server] webhook_max_age_seconds``:
    #: deduplication forgets a delivery once its row is pruned, so an old one replayed would be processed again.
    sent_at: datetime | None = None


class WebhookHandler(abc.ABC):
    """The webhook half of an adapter. The core calls, in order: :meth:`handshake`, :meth:`verify_webhook`,
    :meth:`parse_webhook`."""

    def handshake(self, request: WebhookRequest) -> WebhookReply | None:
        """Answer setup requests that carry no event (Meta's ``GET`` with ``hub.challenge``, WooCommerce's
        unsigned ``webhook_id`` ping). Return ``None`` for ordinary deliveries."""
        return None

    @abc.abstractmethod
    def verify_webhook(self, request: WebhookRequest) -> None:
        """Check the signature over the raw body. Raise ``WebhookRejected(401 or 403, reason)`` when it fails."""

    @abc.abstractmethod
    def parse_webhook(self, request: WebhookRequest) -> ParsedWebhook:
        """Turn a verified delivery into canonical events. Raise ``WebhookRejected(400, reason)`` when malformed.

        Must be pure (no network): the core parses once to validate before acknowledging, and again
        in the worker from the stored raw body."""


# --------------------------------------------------------------------------- shops


@dataclass(frozen=True, slots=True)
class ConnectionInfo:
    """What a successful connection test found out, shown to the owner."""

    name: str
    currency: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ApprovedTemplate:
    """A message template the channel's account may send (approved at the platform), for a person to pick in the
    inbox when the customer's window is closed: ``body`` is its text with ``{{1}}``... placeholders, ``parameters``
    how many of them it takes, ``category`` the platform's (``utility``, ``marketing``, ``authentication``)."""

    name: str
    language: str
    category: str
    body: str
    parameters: int = 0
    #: URL buttons with a variable (each takes one parameter, ``button_parameters`` of the send)
    button_parameters: int = 0


class CredentialStore(Protocol):
    """A stored connection's settings, for adapters whose credentials rotate (see
    :meth:`ShopAdapter.bind_credential_store`)."""

    def load(self) -> dict[str, Any]:
        """The connection's settings as stored now (secrets decrypted): another process may have refreshed them."""

    def save(self, changes: Mapping[str, Any]) -> None:
        """Store changed settings (validated, secrets encrypted); the rest stay."""


class ShopAdapter(WebhookHandler):
    """A shop platform (Shopify, WooCommerce, Shopware 6, ...)."""

    #: Short, unique name; also the plugin segment of the webhook URL ``/webhooks/<name>/<connection id>``.
    name: ClassVar[str]
    #: Human-readable platform name.
    label: ClassVar[str]
    #: Connection settings the owner enters (shop URL, tokens, webhook secret, ...).
    config_fields: ClassVar[Sequence[ConfigField]] = ()
    #: Webhook topics the adapter needs; used by :meth:`register_webhooks` and shown in the docs/dashboard.
    webhook_topics: ClassVar[Sequence[str]] = ()

    def __init__(self, settings: Mapping[str, Any]):
        self.settings = dict(settings)

    @classmethod
    def validate_settings(cls, values: Mapping[str, Any]) -> dict[str, Any]:
        """Validate settings when a connection is created. Override to add cross-field checks."""
        return validate_settings(cls.config_fields, values)

    def bind_credential_store(self, store: CredentialStore) -> None:
        """Called once after the adapter is built for a stored connection: ``store`` reads the connection's settings
        as stored now and saves changed ones (an access token refreshed without the owner, a rotated refresh token),
        encrypted like every secret. Adapters whose credentials never change ignore it."""

    @abc.abstractmethod
    def test_connection(self) -> ConnectionInfo:
        """Make one cheap authenticated call. Raise :class:`~connector.errors.ConnectionTestError` saying what to fix."""

    @abc.abstractmethod
    def iter_variants(self, *, updated_since: datetime | None = None) -> Iterator[model.Variant]:
        """Stream every variant (full read), or those changed since ``updated_since`` (incremental read).

        Unpublished products are yielded with ``published=False`` so the core can remove them from
        the catalog. Never load the whole catalog into memory: page through it."""

    def get_variants(self, external_ids: Sequence[str]) -> list[model.Variant]:
        """Fetch these variants now (after a stock or product webhook). Missing ids are simply absent.

        The default reads everything and filters; adapters should override it with a targeted query."""
        wanted = set(external_ids)
        return [v for v in self.iter_variants() if v.external_id in wanted or v.product_external_id in wanted]

    def register_webhooks(self, callback_url: str) -> list[str]:
        """Subscribe to :attr:`webhook_topics` on the platform, pointing at ``callback_url``. Return the topics
        registered. Idempotent: existing subscriptions are kept, not duplicated."""
        raise NotImplementedError(f"{self.label} webhooks must be registered by hand; see docs/platforms.md")

    # ---- orders

    @abc.abstractmethod
    def create_order(self, cart: model.Cart, customer: model.Customer, address: model.Address | None) -> model.Order:
        """Create a pending order (or draft order) for a chat cart, with a payment/checkout URL.

        Idempotent on ``cart.reference``: calling it again with the same reference returns the order
        created the first time instead of creating a second one (tag or note the order with it and look
        it up before creating)."""

    @abc.abstractmethod
    def find_orders(
        self, *, phone: str | None = None, email: str | None = None, number: str | None = None, limit: int = 5
    ) -> list[model.Order]:
        """Recent orders matching a phone number (E.164), an email, or an order number, newest first."""

    @abc.abstractmethod
    def get_order(self, external_id: str) -> model.Order:
        """One order with its fulfillments and tracking. Raise :class:`~connector.errors.NotFound` if it does not exist."""

    @abc.abstractmethod
    def update_shipping_address(self, external_id: str, address: model.Address) -> model.Order:
        """Change the delivery address of an order that has not shipped.

        Raise :class:`~connector.errors.OrderAlreadyShipped` when it has."""


# --------------------------------------------------------------------------- channels


@dataclass(frozen=True, slots=True)
class CatalogPush:
    """One upsert or delete for the channel's catalog. ``fields`` is Meta's feed-style item data."""

    retailer_id: str
    method: str  # "UPDATE" (upsert) or "DELETE"
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class BatchResult:
    """What the catalog answered for one batch: a handle to poll, and per-item validation errors."""

    handle: str | None
    item_errors: dict[str, list[str]] = field(default_factory=dict)


@dataclass(slots=True)
class BatchStatus:
    """The outcome of a batch once processed. ``finished`` is false while the catalog is still working."""

    finished: bool
    status: str
    item_errors: dict[str, list[str]] = field(default_factory=dict)


class CatalogPublisher(abc.ABC):
    """A commerce catalog a channel shows products from (the Meta catalog behind WhatsApp, Instagram, Messenger)."""

    #: Most items one push may carry.
    max_batch_size: ClassVar[int] = 1000

    @property
    @abc.abstractmethod
    def catalog_id(self) -> str:
        """The catalog's id; connections sharing a catalog id share one catalog sync."""

    @abc.abstractmethod
    def push(self, requests: Sequence[CatalogPush]) -> BatchResult:
        """Send up to :attr:`max_batch_size` upserts/deletes in one call."""

    @abc.abstractmethod
    def batch_status(self, handle: str) -> BatchStatus:
        """Poll a batch handle returned by :meth:`push`."""

    @abc.abstractmethod
    def iter_items(self) -> Iterator[model.CatalogItem]:
        """Read the catalog back, page by page."""

    @abc.abstractmethod
    def item_fields(self, variant: model.Variant) -> dict[str, Any]:
        """The catalog's item fields for a canonical variant (what :meth:`push` sends in an UPDATE)."""

    def validate_item(self, fields: Mapping[str, Any]) -> list[str]:
        """Problems that make the catalog refuse this item, found before sending (missing image, no price,
        title too long...). The core keeps such items out of the push and shows the reasons to the owner."""
        return []


@dataclass(frozen=True, slots=True)
class ProductOffer:
    """One product of a product list as the chat offers it, for channels that draw product cards themselves.

    ``action`` is the button the card's main postback carries: the core chooses its id (``add:<variant id>`` to
    buy, ``notify:<variant id>`` for a sold-out variant) and handles the tap like any other reply, so a channel
    never decides what a tap means. ``note`` goes before the price (``Sold out``); ``view_title`` labels the
    button that opens the product page (``variant.link``); ``price_text`` is the price as the customer's language
    writes it (``12,50 €``; empty: the channel writes ``variant.effective_price`` itself)."""

    variant: model.Variant
    action: model.Button
    sold_out: bool = False
    note: str = ""
    view_title: str = "View"
    price_text: str = ""


class ChannelAdapter(WebhookHandler):
    """A messaging channel (WhatsApp Cloud API, Messenger, Instagram, ...)."""

    name: ClassVar[str]
    label: ClassVar[str]
    config_fields: ClassVar[Sequence[ConfigField]] = ()
    #: Which outbound message types the channel can show natively; others are rendered by fallback.
    supports: ClassVar[frozenset[type[model.Outbound]]] = frozenset()
    #: The adapter's own outbound dataclasses (an envelope around canonical messages, say). The core registers
    #: them, and the dataclasses in their fields, with :mod:`connector.serialization` when it loads the plugin,
    #: so they survive the outbox (stored as JSON, sent later by any worker).
    outbound_types: ClassVar[Sequence[type]] = ()
    #: True when the channel shows a :class:`~connector.model.ProductListMessage` as cards drawn from the
    #: products' own data (:meth:`present_products`) rather than from a commerce catalog by retailer id; the chat
    #: then offers products that way even without a catalog.
    product_cards: ClassVar[bool] = False
    #: The Meta webhook ``object`` this channel's deliveries carry (``whatsapp_business_account``, ``page``,
    #: ``instagram``); empty for channels that are not Meta's. The app-level Meta endpoint routes by it
    #: (:mod:`connector.webhooks.meta_app`).
    webhook_object: ClassVar[str] = ""

    def __init__(self, settings: Mapping[str, Any]):
        self.settings = dict(settings)

    def webhook_routing_ids(self) -> frozenset[str]:
        """The ids that send a change of an app-level Meta delivery to this connection: a WhatsApp phone number id
        (and ``waba:<WABA id>`` for account-level changes), a Page id or an Instagram account id. Empty: the
        connection takes deliveries only at its own URL."""
        return frozenset()

    @classmethod
    def validate_settings(cls, values: Mapping[str, Any]) -> dict[str, Any]:
        return validate_settings(cls.config_fields, values)

    @abc.abstractmethod
    def test_connection(self) -> ConnectionInfo:
        """Make one cheap authenticated call; raise :class:`~connector.errors.ConnectionTestError` saying what to fix."""

    @abc.abstractmethod
    def validate_message(self, message: model.Outbound) -> None:
        """Raise :class:`~connector.errors.MessageLimitError` if ``message`` breaks a documented limit."""

    @abc.abstractmethod
    def send(self, recipient: model.Contact, message: model.Outbound) -> model.SendResult:
        """Validate, then send. Raise :class:`~connector.errors.SendError` with the action the core must take."""

    def send_tracked(self, recipient: model.Contact, message: model.Outbound, reference: str) -> model.SendResult:
        """:meth:`send`, with ``reference`` (the outbox row id) attached where the channel echoes such data in its
        status webhooks (WhatsApp: ``biz_opaque_callback_data``), so a status whose message id was never
        recorded (the sender died in between) is matched to exactly its row. The default ignores it."""
        return self.send(recipient, message)

    def mark_read(self, message_id: str, *, typing: bool = False) -> bool:
        """Show the customer that their message ``message_id`` was read and, with ``typing``, that an answer is
        being written. Cosmetic: never raises; returns False when the channel cannot (the default) or refused."""
        return False

    def catalog(self) -> CatalogPublisher | None:
        """The commerce catalog this channel shows, or ``None`` if it has none."""
        return None

    def flows_enabled(self) -> bool:
        """Whether this connection can send forms (WhatsApp Flows): :class:`~connector.model.FlowMessage` and
        :meth:`publish_flow`. The default: no; the chat then collects the same answers as a text dialogue."""
        return False

    def publish_flow(self, name: str, flow_json: Mapping[str, Any], categories: Sequence[str]) -> str:
        """Make sure a published form ``name`` with exactly ``flow_json`` exists on the channel; return its id.
        Idempotent (an existing form of that name is reused). Raises :class:`~connector.errors.PlatformError`
        when the channel refuses it (its validation errors in the message)."""
        raise NotImplementedError(f"{type(self).__name__} has no forms (flows)")

    def present_products(self, message: model.ProductListMessage, offers: Sequence[ProductOffer]) -> model.Outbound:
        """The message that shows the product list ``message`` on this channel; ``offers`` hold the data of every
        product it names (same order, same ids), for channels that draw the cards themselves.

        The default returns ``message`` unchanged: a channel with a commerce catalog (WhatsApp) shows products by
        retailer id. A channel with :attr:`product_cards` overrides it (Messenger and Instagram wrap the list with
        generic-template cards built from ``offers``)."""
        return message

    #: How many hours after the customer's last message a person (an owner or agent in the inbox) may still write
    #: them free text: the 24-hour window by default; Messenger and Instagram allow a human agent's reply for 7 days
    #: (``HUMAN_AGENT`` tag). After it, only an approved template (:meth:`approved_templates`) may go.
    human_reply_hours: ClassVar[float] = 24.0

    @classmethod
    def human_message(cls, message: model.Outbound, *, inside_window: bool) -> model.Outbound:
        """``message``, written by a person in the inbox, as this channel must send it (``inside_window``: the
        customer wrote within 24 hours). The default sends it as it is; Messenger and Instagram mark it a human
        agent's reply (the ``HUMAN_AGENT`` tag outside the 24 hours)."""
        return message

    def approved_templates(self) -> list[ApprovedTemplate]:
        """The templates a person may send outside :attr:`human_reply_hours` (approved, with their text). The
        default: none (channels without templates)."""
        return []

    #: Outside the 24-hour window an order update may go as a utility message (an approved template of the account,
    #: sent without the window: Messenger's Page utility templates). The core names the template
    #: (``notification_message(utility=...)``); channels without them skip such updates with the reason.
    utility_messages: ClassVar[bool] = False

    @classmethod
    def notification_message(
        cls,
        message: model.Outbound,
        *,
        inside_window: bool,
        order_update: bool,
        utility: model.TemplateMessage | None = None,
    ) -> model.Outbound | None:
        """``message`` as this channel must send it when the business starts the conversation (a notification),
        or ``None`` when the channel does not allow it.

        :param message: the free-form message rendered from the notification texts.
        :param inside_window: the customer wrote within the last 24 hours (minus a safety margin).
        :param order_update: the message is a non-promotional update about an order the customer placed
            (shipping status); back-in-stock alerts are not.
        :param utility: outside the window, for an order update to a customer in a market where Messenger utility
            messages exist: the Page utility template configured for it (``messenger_utility_templates``).

        The default sends inside the window only. Channels whose approved templates reach customers outside it
        (WhatsApp: ``TemplateMessage`` in :attr:`supports`) never get here for that case: the core sends the
        configured template instead. Messenger sends order updates outside the window as a utility message
        (``utility``); message tags such as ``POST_PURCHASE_UPDATE`` are refused by Meta since 2026-04-27."""
        return message if inside_window else None
