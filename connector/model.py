"""The canonical model: plain dataclasses that plugins return and accept.

Shop plugins translate their platform's products and orders into these types; channel plugins
translate them into chat messages and catalog items. The core only ever sees these types, so a
new platform never changes the core.

Conventions:

* Every ``external_id`` is the platform's *stable* id (Shopify's GID, WooCommerce's numeric id,
  Shopware's UUID). It never changes when a SKU, title or image changes, which is what keeps the
  Meta catalog free of duplicates.
* Money is a :class:`~decimal.Decimal` plus an ISO 4217 currency code; never a float.
* Timestamps are timezone-aware UTC :class:`~datetime.datetime` values.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

_CURRENCY = re.compile(r"^[A-Z]{3}$")


# --------------------------------------------------------------------------- money


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in one currency. ``Money("12.50", "EUR")`` and ``Money(Decimal("12.5"), "EUR")`` are equal."""

    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Decimal):
            try:
                object.__setattr__(self, "amount", Decimal(str(self.amount)))
            except InvalidOperation as exc:
                raise ValueError(f"not a decimal amount: {self.amount!r}") from exc
        if not self.amount.is_finite():
            raise ValueError(f"not a finite amount: {self.amount!r}")
        if not _CURRENCY.match(self.currency or ""):
            raise ValueError(f"currency must be an ISO 4217 code such as 'EUR', got {self.currency!r}")

    def __str__(self) -> str:
        return f"{self.amount:.2f} {self.currency}"

    def __mul__(self, quantity: int) -> Money:
        return Money(self.amount * quantity, self.currency)

    def __add__(self, other: Money) -> Money:
        if other.currency != self.currency:
            raise ValueError(f"cannot add {other.currency} to {self.currency}")
        return Money(self.amount + other.amount, self.currency)


# --------------------------------------------------------------------------- catalog


class Availability(enum.StrEnum):
    """Availability as Meta's catalog spells it. Sold-out items are sent as ``OUT_OF_STOCK``, never dropped."""

    IN_STOCK = "in stock"
    OUT_OF_STOCK = "out of stock"
    PREORDER = "preorder"
    AVAILABLE_FOR_ORDER = "available for order"
    DISCONTINUED = "discontinued"


@dataclass(slots=True)
class Variant:
    """One buyable thing: a product variant, or a simple product (then ``external_id == product_external_id``).

    ``group_id`` ties the variants of one product together (Meta's ``item_group_id``); it is the
    product's stable id. ``attributes`` holds variant options such as ``{"size": "M", "color": "blue"}``.
    ``stock_quantity`` is the *available* quantity (``None`` when the shop does not track stock).
    ``published`` is false for drafts/hidden products: they must leave the catalog.
    """

    external_id: str
    product_external_id: str
    title: str
    price: Money
    availability: Availability
    group_id: str = ""
    sku: str | None = None
    description: str = ""
    link: str = ""
    image_url: str | None = None
    additional_image_urls: list[str] = field(default_factory=list)
    brand: str | None = None
    sale_price: Money | None = None
    stock_quantity: int | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    collections: list[str] = field(default_factory=list)
    published: bool = True
    condition: str = "new"
    gtin: str | None = None
    updated_at: datetime | None = None

    def __post_init__(self) -> None:
        if not self.group_id:
            self.group_id = self.product_external_id

    @property
    def effective_price(self) -> Money:
        """What a customer pays now: the sale price when one is set, else the price."""
        return self.sale_price if self.sale_price is not None else self.price


@dataclass(slots=True)
class Product:
    """A product with its variants. Shop plugins may stream :class:`Variant` objects directly instead."""

    external_id: str
    title: str
    variants: list[Variant] = field(default_factory=list)
    description: str = ""
    link: str = ""
    image_url: str | None = None
    brand: str | None = None
    collections: list[str] = field(default_factory=list)
    published: bool = True
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class CatalogItem:
    """One item as it stands in a channel's commerce catalog (Meta's ``PRODUCT_ITEM``), read back from the catalog."""

    retailer_id: str
    title: str
    price: Money | None
    availability: Availability | None
    item_group_id: str | None = None
    sale_price: Money | None = None
    inventory: int | None = None
    link: str | None = None
    image_link: str | None = None
    visibility: str | None = None


# --------------------------------------------------------------------------- people


@dataclass(slots=True)
class Address:
    """A postal address. ``country_code`` is ISO 3166-1 alpha-2."""

    name: str = ""
    line1: str = ""
    line2: str = ""
    postcode: str = ""
    city: str = ""
    region: str = ""
    country_code: str = ""
    company: str = ""
    phone: str = ""

    def missing_fields(self) -> list[str]:
        """The fields a deliverable address must have but this one lacks."""
        return [f for f in ("name", "line1", "postcode", "city", "country_code") if not getattr(self, f).strip()]


@dataclass(slots=True)
class Customer:
    """A shop customer as far as an order needs one.

    ``phone`` is the number as the shop has it: E.164 (``+4915112345678``) when we send it, but on orders read from
    a shop whatever the customer typed (``(555) 555-5555``, ``0151 1234567``). ``country_code`` (ISO 3166-1
    alpha-2) is the country the order names for them (billing address, else shipping address): a national number
    is read with it (:func:`connector.phones.read_phone`)."""

    phone: str | None = None
    email: str | None = None
    first_name: str = ""
    last_name: str = ""
    locale: str | None = None
    country_code: str | None = None

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


@dataclass(slots=True)
class Contact:
    """A person we chat with on one channel.

    ``channel_user_id`` is the id the channel uses for them: the WhatsApp ``wa_id`` (the phone
    number without ``+``), a business-scoped user id when the phone is hidden, a Messenger PSID or
    an Instagram IGSID.
    """

    channel: str
    channel_user_id: str
    phone: str | None = None
    name: str = ""
    locale: str | None = None
    #: WhatsApp's business-scoped user id (``US.1349...``) when the channel names one, with or without the phone.
    user_id: str | None = None


# --------------------------------------------------------------------------- orders


@dataclass(slots=True)
class CartLine:
    """One line of a cart: which variant, how many, and the unit price the customer saw (if any)."""

    variant_external_id: str
    quantity: int
    unit_price: Money | None = None

    def __post_init__(self) -> None:
        if self.quantity < 1:
            raise ValueError(f"quantity must be at least 1, got {self.quantity}")


@dataclass(slots=True)
class Cart:
    """A cart from chat. ``reference`` is a stable idempotency key (e.g. the inbound message id)."""

    lines: list[CartLine]
    reference: str
    currency: str | None = None
    note: str = ""


class OrderStatus(enum.StrEnum):
    """Where an order stands commercially."""

    PENDING = "pending"  # created, waiting for payment
    OPEN = "open"  # paid or confirmed, not yet (fully) shipped
    FULFILLED = "fulfilled"  # every line shipped
    COMPLETED = "completed"  # delivered / closed
    CANCELLED = "cancelled"
    REFUNDED = "refunded"


class ShipmentStatus(enum.StrEnum):
    """Where a shipment stands. The order of the members is the order a shipment moves in."""

    CONFIRMED = "confirmed"
    LABEL_PRINTED = "label_printed"
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELAYED = "delayed"
    FAILED = "failed"
    DELIVERED = "delivered"

    @property
    def rank(self) -> int:
        """Position in the normal sequence, so a status never moves backwards."""
        return list(ShipmentStatus).index(self)


@dataclass(slots=True)
class OrderLine:
    variant_external_id: str
    title: str
    quantity: int
    unit_price: Money
    sku: str | None = None


@dataclass(slots=True)
class Fulfillment:
    """A shipment of (part of) an order, with its tracking details."""

    external_id: str
    status: ShipmentStatus
    tracking_company: str | None = None
    tracking_number: str | None = None
    tracking_url: str | None = None
    updated_at: datetime | None = None


@dataclass(slots=True)
class Order:
    """An order as the shop knows it. ``number`` is what the customer sees (``#1001``, ``10057``)."""

    external_id: str
    number: str
    status: OrderStatus
    lines: list[OrderLine]
    total: Money
    subtotal: Money | None = None
    shipping_total: Money | None = None
    customer: Customer = field(default_factory=Customer)
    shipping_address: Address | None = None
    fulfillments: list[Fulfillment] = field(default_factory=list)
    payment_url: str | None = None
    reference: str | None = None  # the cart reference this order was created from, if it came from chat
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def shipped(self) -> bool:
        """True once any shipment left the warehouse: the address can no longer change."""
        return any(f.status.rank >= ShipmentStatus.IN_TRANSIT.rank for f in self.fulfillments) or self.status in (
            OrderStatus.FULFILLED,
            OrderStatus.COMPLETED,
        )


@dataclass(slots=True)
class Checkout:
    """A shop checkout the customer started (Shopify's abandoned checkouts): what is in it, and the link that
    brings the customer back to it. ``completed_at`` is set once it became a paid order."""

    external_id: str
    name: str
    lines: list[OrderLine]
    total: Money
    recovery_url: str | None = None
    customer: Customer = field(default_factory=Customer)
    completed_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


# --------------------------------------------------------------------------- shop events


class ShopEventKind(enum.StrEnum):
    PRODUCT_CHANGED = "product_changed"
    PRODUCT_DELETED = "product_deleted"
    STOCK_CHANGED = "stock_changed"
    ORDER_CHANGED = "order_changed"
    #: The shop deleted (or trashed) the order: nothing to fetch, nothing more to tell the customer.
    ORDER_DELETED = "order_deleted"
    #: A checkout was started or changed (Shopify ``checkouts/create`` / ``checkouts/update``): ``checkout``.
    CHECKOUT_CHANGED = "checkout_changed"
    FULFILLMENT_CHANGED = "fulfillment_changed"
    APP_UNINSTALLED = "app_uninstalled"
    #: Privacy requests the shop relays (Shopify's mandatory compliance webhooks): ``customer`` names the person.
    CUSTOMER_DATA_REQUEST = "customer_data_request"
    CUSTOMER_REDACT = "customer_redact"
    SHOP_REDACT = "shop_redact"


@dataclass(slots=True)
class ShopEvent:
    """A canonical change reported by a shop webhook.

    ``object_id`` is the stable external id of what changed (product, variant or order).
    ``variant_ids`` lists variants concerned when the platform says so (stock changes).
    ``order`` carries the order when the webhook had enough to build one.
    """

    kind: ShopEventKind
    object_id: str
    variant_ids: list[str] = field(default_factory=list)
    stock_quantity: int | None = None
    order: Order | None = None
    fulfillment: Fulfillment | None = None
    occurred_at: datetime | None = None
    #: Privacy requests: the customer's ``phone`` and ``email`` as the shop knows them.
    customer: dict[str, str] | None = None
    #: Checkout events: the checkout as the webhook carried it.
    checkout: Checkout | None = None


# --------------------------------------------------------------------------- inbound chat


@dataclass(slots=True)
class Referral:
    """Where the customer came from when they wrote: an ad, a post, a link carrying a ``ref``, or a product.

    ``source_type`` is the channel's word for the source (WhatsApp ``ad`` / ``post``; Messenger and Instagram
    ``ADS``, ``SHORTLINK``, ...; ``product`` when the customer wrote from a product and nothing else is said).
    ``product_retailer_id`` is the catalog item the customer asked about (WhatsApp's ``referred_product``, an
    Instagram Shop product, a product ad): a retailer id, i.e. the variant's ``external_id``; ``catalog_id`` is its
    catalog when the channel names one. ``ad_click_id`` is WhatsApp's ``ctwa_clid``; ``ref`` the parameter of an
    m.me / ig.me link or ad. ``raw`` keeps the channel's object verbatim, so nothing the shop owner may want is lost.
    """

    source_type: str = ""
    source_id: str = ""
    source_url: str = ""
    headline: str = ""
    body: str = ""
    ad_click_id: str = ""
    ref: str = ""
    product_retailer_id: str = ""
    catalog_id: str = ""
    raw: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_untagged(cls, raw: dict[str, Any]) -> Referral:
        """A referral stored before it was typed: the channel's object verbatim (WhatsApp's ``referral`` with
        ``referred_product`` folded in, or a Messenger / Instagram ``referral``). Used when reading old rows."""
        product: dict[str, Any] = found if isinstance(found := raw.get("referred_product"), dict) else {}
        ads: dict[str, Any] = found if isinstance(found := raw.get("ads_context_data"), dict) else {}
        shop_product: dict[str, Any] = found if isinstance(found := raw.get("product"), dict) else {}
        retailer_id = product.get("product_retailer_id") or shop_product.get("id") or ads.get("product_id") or ""
        return cls(
            source_type=str(raw.get("source_type") or raw.get("source") or ("product" if retailer_id else "")),
            source_id=str(raw.get("source_id") or raw.get("ad_id") or ads.get("post_id") or ""),
            source_url=str(raw.get("source_url") or raw.get("referer_uri") or ""),  # WhatsApp / Messenger
            headline=str(raw.get("headline") or ads.get("ad_title") or ""),
            body=str(raw.get("body") or ""),
            ad_click_id=str(raw.get("ctwa_clid") or ""),
            ref=str(raw.get("ref") or ""),
            product_retailer_id=str(retailer_id),
            catalog_id=str(product.get("catalog_id") or ""),
            raw=dict(raw),
        )


@dataclass(slots=True)
class Inbound:
    """Base of everything a channel webhook can bring in. ``message_id`` is the channel's id (wamid, mid).

    ``referral`` says where the customer came from when the channel tells (a Click-to-WhatsApp ad, a product they
    wrote from, an m.me link): kept on the stored message as the source of the conversation."""

    message_id: str
    sender: Contact
    timestamp: datetime | None = None
    referral: Referral | None = None


@dataclass(slots=True)
class InboundText(Inbound):
    text: str = ""


@dataclass(slots=True)
class InboundReply(Inbound):
    """A tap on a list row, a reply button, a quick reply or a postback. ``reply_id`` is the id we sent."""

    reply_id: str = ""
    title: str = ""
    kind: str = "button"  # "list" | "button" | "quick_reply" | "postback" | "template_button"
    context_message_id: str | None = None


@dataclass(slots=True)
class InboundCart(Inbound):
    """A cart the customer sent (WhatsApp ``order`` message). Unit prices are what the customer saw."""

    catalog_id: str = ""
    lines: list[CartLine] = field(default_factory=list)
    text: str = ""


@dataclass(slots=True)
class InboundLocation(Inbound):
    latitude: float = 0.0
    longitude: float = 0.0
    name: str = ""
    address: str = ""


@dataclass(slots=True)
class InboundOther(Inbound):
    """A message type we do not act on (image, sticker, reaction, a standalone referral...); kept so nothing is
    silently lost."""

    type: str = ""


@dataclass(slots=True)
class InboundMedia(InboundOther):
    """An image, video, document, audio or sticker (``type``), with what the customer wrote under it (``caption``,
    which the chat reads like a text). ``media_id`` is the channel's media id or attachment URL."""

    media_id: str = ""
    mime_type: str = ""
    caption: str = ""
    filename: str = ""


@dataclass(slots=True)
class InboundFlowReply(InboundOther):
    """A completed WhatsApp Flow (``nfm_reply``) or address message: ``response`` is the parsed ``response_json``
    (the customer's answers, with the ``flow_token`` we sent), ``context_message_id`` the flow message answered."""

    name: str = ""
    body: str = ""
    response: dict[str, Any] = field(default_factory=dict)
    flow_token: str = ""
    context_message_id: str | None = None


@dataclass(slots=True)
class InboundNumberChange(InboundOther):
    """WhatsApp's system message that the customer moved to a new number (``new_phone``, digits) and/or a new
    business-scoped user id (``new_user_id``): their consent, orders and history move with them."""

    new_phone: str = ""
    new_user_id: str = ""


@dataclass(slots=True)
class InboundEdit(InboundOther):
    """The customer edited an earlier message (``original_message_id``); ``text`` is the new text. Stored next to
    the original, which is marked edited: the first wording is kept."""

    original_message_id: str = ""
    text: str = ""


@dataclass(slots=True)
class InboundUnsend(InboundOther):
    """The customer withdrew (unsent) an earlier message: the stored ``original_message_id`` is marked deleted."""

    original_message_id: str = ""


class DeliveryState(enum.StrEnum):
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"

    @property
    def rank(self) -> int:
        return {"sent": 0, "delivered": 1, "read": 2, "failed": 3}[self.value]


@dataclass(slots=True)
class DeliveryStatus:
    """A status update for a message we sent. Statuses may arrive out of order; use :attr:`DeliveryState.rank`."""

    message_id: str
    state: DeliveryState
    recipient_id: str
    timestamp: datetime | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    pricing: dict[str, Any] | None = None
    conversation: dict[str, Any] | None = None
    #: What the sender attached to the message for its own matching (WhatsApp's ``biz_opaque_callback_data``:
    #: the connector's outbox row id), echoed in every status.
    callback_data: str | None = None
    #: A read receipt that names no message (Messenger's ``read.watermark``, ``message_id`` empty): every message
    #: sent to ``recipient_id`` at or before this time was read.
    watermark: datetime | None = None


@dataclass(slots=True)
class ConsentSignal:
    """The customer stopped or resumed a kind of message inside the channel's own app (WhatsApp's
    ``user_preferences``), not by writing to us. ``proof`` is what the channel sent, kept as the consent's proof."""

    contact: Contact
    #: ``stop`` | ``resume``
    action: str
    #: The consent purpose concerned (``marketing``).
    purpose: str
    detail: str = ""
    timestamp: datetime | None = None
    proof: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class MessagingLimitSignal:
    """The channel announced a new messaging (reach) limit for the account's business portfolio: unique users it
    may reach outside the 24-hour window per moving 24 hours (0 = unlimited)."""

    reach_limit: int
    #: The channel's own words for it (``TIER_2K``, ``2000``).
    raw: str = ""


@dataclass(slots=True)
class TemplateCategoryUpdate:
    """The channel re-categorized an approved template (WhatsApp's ``template_category_update`` webhook): from
    ``effective_at`` it is priced, and needs the consent, of ``category`` (``marketing`` | ``utility`` |
    ``authentication``). ``impending``: the advance notice (about 24 hours before); otherwise it is done."""

    template_id: str
    name: str
    language: str
    category: str
    previous_category: str | None
    effective_at: datetime
    impending: bool = False


# --------------------------------------------------------------------------- outbound chat


@dataclass(frozen=True, slots=True)
class Button:
    id: str
    title: str


@dataclass(frozen=True, slots=True)
class ListRow:
    id: str
    title: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class ListSection:
    title: str
    rows: list[ListRow]


@dataclass(frozen=True, slots=True)
class ProductSection:
    title: str
    retailer_ids: list[str]


@dataclass(frozen=True, slots=True)
class Outbound:
    """Base of every outbound message. Channel plugins validate limits and render the platform payload."""


@dataclass(frozen=True, slots=True)
class TextMessage(Outbound):
    body: str
    preview_url: bool = False


@dataclass(frozen=True, slots=True)
class ListMessage(Outbound):
    """A list of up to 10 rows in sections (WhatsApp); quick replies on Messenger/Instagram."""

    body: str
    button: str
    sections: list[ListSection]
    header: str | None = None
    footer: str | None = None


@dataclass(frozen=True, slots=True)
class ButtonsMessage(Outbound):
    """Up to 3 reply buttons."""

    body: str
    buttons: list[Button]
    header: str | None = None
    footer: str | None = None


@dataclass(frozen=True, slots=True)
class LinkButtonMessage(Outbound):
    """One button that opens a URL (WhatsApp CTA URL; a web_url button template on Messenger)."""

    body: str
    display_text: str
    url: str
    header: str | None = None
    footer: str | None = None


@dataclass(frozen=True, slots=True)
class ProductMessage(Outbound):
    """A single catalog product."""

    catalog_id: str
    retailer_id: str
    body: str | None = None
    footer: str | None = None


@dataclass(frozen=True, slots=True)
class ProductListMessage(Outbound):
    """Up to 30 products in up to 10 sections."""

    catalog_id: str
    header: str
    body: str
    sections: list[ProductSection]
    footer: str | None = None


@dataclass(frozen=True, slots=True)
class CatalogMessage(Outbound):
    """An invitation to browse the whole catalog."""

    body: str
    thumbnail_retailer_id: str | None = None
    footer: str | None = None


@dataclass(frozen=True, slots=True)
class ProductCarouselMessage(Outbound):
    """Products of one catalog as swipeable cards (WhatsApp interactive product carousel: 2-10 cards, a body of at
    most 1,024 characters, no header, footer or buttons); a cart sent from it arrives as a normal order message."""

    catalog_id: str
    body: str
    retailer_ids: list[str]


@dataclass(frozen=True, slots=True)
class FlowMessage(Outbound):
    """An invitation to fill in a published WhatsApp Flow (a form shown inside WhatsApp). ``flow_token`` comes back
    with the answers (``InboundFlowReply``); ``screen`` is the first screen, ``data`` its declared input."""

    flow_id: str
    flow_token: str
    cta: str
    body: str
    screen: str
    data: dict[str, Any] = field(default_factory=dict)
    header: str | None = None
    footer: str | None = None


@dataclass(frozen=True, slots=True)
class TemplateParameter:
    """Base of a typed template variable. A plain ``str`` in a template's parameter list is a text variable."""


@dataclass(frozen=True, slots=True)
class TextParameter(TemplateParameter):
    text: str


@dataclass(frozen=True, slots=True)
class CurrencyParameter(TemplateParameter):
    """An amount the recipient's app formats in their locale; ``fallback`` is shown where it cannot."""

    fallback: str
    code: str  # ISO 4217
    amount_1000: int  # the amount times 1,000 (12.50 EUR -> 12500)


@dataclass(frozen=True, slots=True)
class DateTimeParameter(TemplateParameter):
    fallback: str


@dataclass(frozen=True, slots=True)
class MediaParameter(TemplateParameter):
    """Base of the media a header shows: a public https URL the channel downloads."""

    link: str


@dataclass(frozen=True, slots=True)
class ImageParameter(MediaParameter):
    pass


@dataclass(frozen=True, slots=True)
class DocumentParameter(MediaParameter):
    pass


@dataclass(frozen=True, slots=True)
class VideoParameter(MediaParameter):
    pass


#: One template variable. ``TemplateParameter`` comes first so a stored dict is rebuilt as one; plain strings
#: (every row stored before typed parameters existed) stay strings.
TemplateValue = TemplateParameter | str


@dataclass(frozen=True, slots=True)
class TemplateCard:
    """One card of a product-card carousel template: the catalog product it shows."""

    retailer_id: str
    catalog_id: str = ""


@dataclass(frozen=True, slots=True)
class TemplateMessage(Outbound):
    """An approved template. ``body_parameters`` fill ``{{1}}``, ``{{2}}``...; ``button_parameters`` fill URL buttons;
    ``header_parameters`` hold the text header's variable or the media header's :class:`MediaParameter`."""

    name: str
    language: str
    body_parameters: list[TemplateValue] = field(default_factory=list)
    header_parameters: list[TemplateValue] = field(default_factory=list)
    button_parameters: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class OfferTemplateMessage(TemplateMessage):
    """A marketing template that sells (WhatsApp, 2026): ``coupon_code`` fills its copy-code button (the first
    button; URL buttons follow), ``offer_expires_at`` (epoch milliseconds) its limited-time-offer countdown,
    ``cards`` the products of a product-card carousel template."""

    coupon_code: str = ""
    offer_expires_at: int | None = None
    cards: list[TemplateCard] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SendResult:
    """What the channel answered when it accepted a message."""

    message_id: str
    recipient_id: str
