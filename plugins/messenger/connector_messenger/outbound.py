"""Plugin-local additions to the canonical outbound messages.

Messenger and Instagram cannot show a catalog product by retailer id the way WhatsApp does: a product
becomes a generic-template card, and the card needs a title, a price line, an image and a link. The
caller passes that data as :class:`ProductCard` objects in a :class:`MetaSend` envelope, which also
carries how the message may be sent (``messaging_type``, message tag, human-agent reply).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from connector import model
from connector.adapters import ProductOffer

#: Generic-template element title and subtitle, and button titles (see ``limits.py``; the same on both channels).
TITLE_CHARS = 80
BUTTON_CHARS = 20


class MessagingType(enum.StrEnum):
    """The Send API's ``messaging_type``."""

    RESPONSE = "RESPONSE"  # a reply inside the standard (24 h) window
    UPDATE = "UPDATE"  # a proactive message, also only inside the window since the 2020 policy
    MESSAGE_TAG = "MESSAGE_TAG"  # outside the window, with a ``tag`` (only HUMAN_AGENT is left)
    #: Outside the window, an approved Page utility template (Messenger only, open beta since 2026 in US, VN,
    #: TH and PH): what carries order updates since the tags below were removed.
    UTILITY = "UTILITY"


class MessageTag(enum.StrEnum):
    """Message tags. Tagged messages must never be promotional.

    ``HUMAN_AGENT``: a person replies up to 7 days after the user's last message (no automation).
    The other three were refused by Meta from 2026-04-27 (code 100, subcode 1893061): they stay here so messages
    stored before can still be read, and the adapters refuse to send them (:data:`REMOVED_TAGS`).
    """

    HUMAN_AGENT = "HUMAN_AGENT"
    POST_PURCHASE_UPDATE = "POST_PURCHASE_UPDATE"
    ACCOUNT_UPDATE = "ACCOUNT_UPDATE"
    CONFIRMED_EVENT_UPDATE = "CONFIRMED_EVENT_UPDATE"


#: Tags Meta refuses since 2026-04-27: never sent.
REMOVED_TAGS = frozenset(
    {MessageTag.POST_PURCHASE_UPDATE, MessageTag.ACCOUNT_UPDATE, MessageTag.CONFIRMED_EVENT_UPDATE}
)


@dataclass(frozen=True, slots=True)
class ProductCard:
    """What one generic-template element shows for a catalog product.

    ``retailer_id`` goes into the ``Buy`` postback payload (``BUY:<retailer_id>``); ``subtitle``
    defaults to the price when one is given. The card gets a ``View`` button when it has a ``url``.
    """

    retailer_id: str
    title: str
    subtitle: str = ""
    price: model.Money | None = None
    image_url: str | None = None
    url: str | None = None
    buy_title: str = "Buy"
    view_title: str = "View"
    #: More postback buttons after View and Buy (e.g. "Sizes"); an element holds at most 3 buttons in all.
    extra_buttons: tuple[model.Button, ...] = ()
    #: The card's main postback instead of ``Buy`` / ``BUY:<retailer_id>`` (the chat's ``add:<id>``, or
    #: ``notify:<id>`` titled "Notify me" on a sold-out product).
    action: model.Button | None = None

    @classmethod
    def from_variant(cls, variant: model.Variant, retailer_id: str | None = None) -> ProductCard:
        """A card for a shop variant (its effective price, image and product page)."""
        return cls(
            retailer_id=retailer_id or variant.external_id,
            title=variant.title,
            price=variant.effective_price,
            image_url=variant.image_url,
            url=variant.link or None,
        )

    @classmethod
    def from_offer(cls, offer: ProductOffer) -> ProductCard:
        """A card for a product the chat offers: its action, and the note (``Sold out``) before the price."""
        variant = offer.variant
        price = offer.price_text or str(variant.effective_price)
        return cls(
            retailer_id=variant.external_id,
            title=_shortened(variant.title, TITLE_CHARS),
            subtitle=_shortened(f"{offer.note} · {price}" if offer.note else price, TITLE_CHARS),
            price=variant.effective_price,
            image_url=_web_url(variant.image_url),
            url=_web_url(variant.link),
            view_title=_shortened(offer.view_title, BUTTON_CHARS),
            action=offer.action,
        )

    @property
    def subtitle_text(self) -> str:
        if self.subtitle:
            return self.subtitle
        return str(self.price) if self.price is not None else ""


@dataclass(frozen=True, slots=True)
class MetaSend(model.Outbound):
    """A canonical message plus what Messenger/Instagram need to send it.

    :param message: the canonical message to render.
    :param products: card data for ``ProductMessage`` / ``ProductListMessage`` / ``CatalogMessage``.
    :param messaging_type: ``RESPONSE`` (default) or ``UPDATE``; ``MESSAGE_TAG`` when ``tag`` is set; ``UTILITY``
        when ``message`` is a :class:`~connector.model.TemplateMessage` naming an approved Page utility template.
    :param tag: send with ``messaging_type=MESSAGE_TAG`` and this tag (never for promotional content).
    :param human_agent: a person wrote this reply. When Meta refuses it as outside the standard window,
        the adapter resends it once with the ``HUMAN_AGENT`` tag (allowed up to 7 days after the user's
        last message); automated messages must leave this false.
    """

    message: model.Outbound
    products: tuple[ProductCard, ...] = field(default_factory=tuple)
    messaging_type: MessagingType = MessagingType.RESPONSE
    tag: MessageTag | None = None
    human_agent: bool = False

    @property
    def effective_type(self) -> MessagingType:
        return MessagingType.MESSAGE_TAG if self.tag is not None else self.messaging_type


def _shortened(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _web_url(url: str | None) -> str | None:
    # A card may only link to the web; anything else (empty, relative, data:) is left out instead of refused.
    return url if url and url.startswith(("https://", "http://")) else None


def envelope(message: model.Outbound) -> MetaSend:
    """Wrap a bare canonical message in the default envelope (``RESPONSE``, no product data)."""
    return message if isinstance(message, MetaSend) else MetaSend(message=message)
