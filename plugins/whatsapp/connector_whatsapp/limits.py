"""WhatsApp Cloud API message limits, checked *before* anything is sent.

Every number comes from whatsapp-cloud-api.md §3-4 and lives in :class:`WhatsAppLimits`, so a limit
Meta changes is one setting, not a code change. :func:`validate_message` raises
:class:`~connector.errors.MessageLimitError` naming the field, the problem and the limit: a message is
never truncated silently and never left for Meta to answer with a 400.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from connector_whatsapp.contact_request import ContactInfoRequest

from connector import model
from connector.errors import MessageLimitError

#: The parameter ``type`` of each media parameter class a template header takes (whatsapp-cloud-api.md §2).
MEDIA_TYPES: dict[type, str] = {
    model.ImageParameter: "image",
    model.DocumentParameter: "document",
    model.VideoParameter: "video",
}


@dataclass(frozen=True, slots=True)
class WhatsAppLimits:
    """Documented limits (characters unless noted). Sources in whatsapp-cloud-api.md §3-4."""

    text_body: int = 4096
    interactive_body: int = 1024
    interactive_footer: int = 60
    interactive_header: int = 60
    list_button: int = 20
    list_sections: int = 10
    list_rows_total: int = 10
    list_section_title: int = 24
    list_row_id: int = 200
    list_row_title: int = 24
    list_row_description: int = 72
    reply_buttons: int = 3
    reply_button_title: int = 20
    reply_button_id: int = 256
    #: 20 per the Telnyx SDK model; one vendor states 18 (UNCONFIRMED on Meta's page).
    cta_display_text: int = 20
    product_list_products: int = 30
    product_list_sections: int = 10
    product_section_title: int = 24
    template_name: int = 512
    template_header_parameters: int = 1  # a text header takes one variable
    template_header: int = 60
    template_body: int = 1024
    template_url_buttons: int = 2
    #: Product carousel (interactive, 2025-11): 2-10 cards of one catalog (platform-changes-2026.md §7).
    carousel_cards_min: int = 2
    carousel_cards_max: int = 10
    #: Product-card carousel template: up to 10 cards.
    template_cards: int = 10
    #: A copy-code button's coupon code (Meta's template editor allows 15 characters).
    coupon_code: int = 15
    #: Flow messages: the button text (SDKs cap it at 20; Meta advises at most 30) and the flow token.
    flow_cta: int = 20
    flow_token: int = 1000


DEFAULT_LIMITS = WhatsAppLimits()

_TEMPLATE_NAME = re.compile(r"^[a-z0-9_]+$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(_[A-Za-z0-9]{2,4})?$")
# Meta refuses template parameters with new-lines, tabs or more than 4 consecutive spaces.
_BAD_PARAMETER = re.compile(r"[\n\t]| {5,}")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


def _length(value: str | None, field: str, limit: int, *, required: bool) -> None:
    if value is None or value == "":
        if required:
            raise MessageLimitError(field, "must not be empty", limit=limit)
        return
    if not value.strip():
        raise MessageLimitError(field, "must not be blank", limit=limit)
    if len(value) > limit:
        raise MessageLimitError(field, f"is {len(value)} characters, the limit is {limit}", limit=limit)


def _count(items: Sequence[object], field: str, low: int, high: int) -> None:
    if len(items) < low:
        raise MessageLimitError(field, f"needs at least {low}, got {len(items)}", limit=high)
    if len(items) > high:
        raise MessageLimitError(field, f"has {len(items)}, the limit is {high}", limit=high)


def _unique(values: Sequence[str], field: str, what: str) -> None:
    seen: set[str] = set()
    for index, value in enumerate(values):
        if value in seen:
            raise MessageLimitError(f"{field}[{index}].{what}", f"{value!r} is used twice; it must be unique")
        seen.add(value)


def _common(message: model.Outbound, limits: WhatsAppLimits, *, body_required: bool = True) -> None:
    """Header, body and footer of interactive messages."""
    _length(getattr(message, "header", None), "header", limits.interactive_header, required=False)
    _length(getattr(message, "body", None), "body", limits.interactive_body, required=body_required)
    _length(getattr(message, "footer", None), "footer", limits.interactive_footer, required=False)


def validate_message(message: model.Outbound, limits: WhatsAppLimits = DEFAULT_LIMITS) -> None:
    """Raise :class:`~connector.errors.MessageLimitError` if ``message`` breaks a WhatsApp limit."""
    validator = _VALIDATORS.get(type(message))
    if validator is None:
        raise MessageLimitError("type", f"WhatsApp cannot send {type(message).__name__}")
    validator(message, limits)


def _text(message: model.TextMessage, limits: WhatsAppLimits) -> None:
    _length(message.body, "body", limits.text_body, required=True)


def _list(message: model.ListMessage, limits: WhatsAppLimits) -> None:
    _common(message, limits)
    _length(message.button, "button", limits.list_button, required=True)
    _count(message.sections, "sections", 1, limits.list_sections)
    rows = [row for section in message.sections for row in section.rows]
    _count(rows, "rows (all sections together)", 1, limits.list_rows_total)
    for s, section in enumerate(message.sections):
        _length(section.title, f"sections[{s}].title", limits.list_section_title, required=len(message.sections) > 1)
        _count(section.rows, f"sections[{s}].rows", 1, limits.list_rows_total)
        for r, row in enumerate(section.rows):
            where = f"sections[{s}].rows[{r}]"
            _length(row.id, f"{where}.id", limits.list_row_id, required=True)
            _length(row.title, f"{where}.title", limits.list_row_title, required=True)
            _length(row.description, f"{where}.description", limits.list_row_description, required=False)
    _unique([row.id for row in rows], "rows", "id")


def _buttons(message: model.ButtonsMessage, limits: WhatsAppLimits) -> None:
    _common(message, limits)
    _count(message.buttons, "buttons", 1, limits.reply_buttons)
    for b, button in enumerate(message.buttons):
        _length(button.id, f"buttons[{b}].id", limits.reply_button_id, required=True)
        _length(button.title, f"buttons[{b}].title", limits.reply_button_title, required=True)
    _unique([b.title for b in message.buttons], "buttons", "title")
    _unique([b.id for b in message.buttons], "buttons", "id")


def _link_button(message: model.LinkButtonMessage, limits: WhatsAppLimits) -> None:
    _common(message, limits)
    _length(message.display_text, "display_text", limits.cta_display_text, required=True)
    parsed = urlparse(message.url or "")
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise MessageLimitError("url", f"must be an absolute http(s) URL, got {message.url!r}")


def _product(message: model.ProductMessage, limits: WhatsAppLimits) -> None:
    _common(message, limits, body_required=False)
    _length(message.catalog_id, "catalog_id", 64, required=True)
    _length(message.retailer_id, "retailer_id", 100, required=True)


def _product_list(message: model.ProductListMessage, limits: WhatsAppLimits) -> None:
    # Unlike other interactive messages, a product list needs a (text) header.
    _length(message.header, "header", limits.interactive_header, required=True)
    _common(message, limits)
    _length(message.catalog_id, "catalog_id", 64, required=True)
    _count(message.sections, "sections", 1, limits.product_list_sections)
    ids = [rid for section in message.sections for rid in section.retailer_ids]
    _count(ids, "products (all sections together)", 1, limits.product_list_products)
    for s, section in enumerate(message.sections):
        _length(section.title, f"sections[{s}].title", limits.product_section_title, required=len(message.sections) > 1)
        _count(section.retailer_ids, f"sections[{s}].retailer_ids", 1, limits.product_list_products)
        for p, retailer_id in enumerate(section.retailer_ids):
            _length(retailer_id, f"sections[{s}].retailer_ids[{p}]", 100, required=True)


def _catalog(message: model.CatalogMessage, limits: WhatsAppLimits) -> None:
    _common(message, limits)
    # The docs call the thumbnail optional, but the API errors without it (whatsapp-cloud-api.md §2).
    _length(message.thumbnail_retailer_id, "thumbnail_retailer_id", 100, required=True)


def _template(message: model.TemplateMessage, limits: WhatsAppLimits) -> None:
    _length(message.name, "name", limits.template_name, required=True)
    if not _TEMPLATE_NAME.match(message.name):
        raise MessageLimitError("name", f"template names use lowercase letters, digits and '_' only: {message.name!r}")
    if not _LANGUAGE.match(message.language or ""):
        raise MessageLimitError(
            "language", f"must be a WhatsApp language code such as 'en_US' or 'de', got {message.language!r}"
        )
    if len(message.header_parameters) > limits.template_header_parameters:
        raise MessageLimitError(
            "header_parameters",
            f"a header takes one media parameter or the text header's {limits.template_header_parameters} variable, "
            f"got {len(message.header_parameters)}",
            limit=limits.template_header_parameters,
        )
    if len(message.button_parameters) > limits.template_url_buttons:
        raise MessageLimitError(
            "button_parameters",
            f"a template has at most {limits.template_url_buttons} URL buttons, got {len(message.button_parameters)}",
            limit=limits.template_url_buttons,
        )
    for index, value in enumerate(message.header_parameters):
        where = f"header_parameters[{index}]"
        if isinstance(value, model.MediaParameter):
            _media(value, where)
        elif _text_of(value) is None:
            raise MessageLimitError(where, f"a header takes text or an image, document or video, not {_kind(value)}")
    for index, value in enumerate(message.body_parameters):
        where = f"body_parameters[{index}]"
        if isinstance(value, model.CurrencyParameter):
            _currency(value, where)
        elif isinstance(value, model.DateTimeParameter):
            _length(value.fallback, f"{where}.fallback", limits.template_body, required=True)
        elif _text_of(value) is None:
            raise MessageLimitError(where, f"a body takes text, currency or date_time parameters, not {_kind(value)}")
    texts: dict[str, tuple[Sequence[Any], int]] = {
        "header_parameters": (message.header_parameters, limits.template_header),
        "body_parameters": (message.body_parameters, limits.template_body),
        "button_parameters": (message.button_parameters, 2000),
    }
    for group, (values, limit) in texts.items():
        for index, value in enumerate(values):
            text = _text_of(value)
            if text is None:
                continue
            _length(text, f"{group}[{index}]", limit, required=True)
            if _BAD_PARAMETER.search(text):
                raise MessageLimitError(
                    f"{group}[{index}]",
                    "template parameters cannot contain new-lines, tabs or more than 4 spaces in a row",
                )
    total = sum(len(text) for text in map(_text_of, message.body_parameters) if text is not None)
    if total > limits.template_body:
        raise MessageLimitError(
            "body_parameters",
            f"together {total} characters, the body limit is {limits.template_body}",
            limit=limits.template_body,
        )


def _text_of(value: model.TemplateValue) -> str | None:
    """The text of a text parameter (a plain ``str`` or :class:`~connector.model.TextParameter`), else None."""
    if isinstance(value, str):
        return value
    return value.text if isinstance(value, model.TextParameter) else None


def _kind(value: object) -> str:
    return type(value).__name__


def _media(value: model.MediaParameter, where: str) -> None:
    if type(value) not in MEDIA_TYPES:
        raise MessageLimitError(where, f"{_kind(value)} is no image, document or video")
    parsed = urlparse(value.link or "")
    # WhatsApp downloads the media itself: it needs an absolute URL it can reach.
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise MessageLimitError(f"{where}.link", f"must be an absolute http(s) URL, got {value.link!r}")


def _currency(value: model.CurrencyParameter, where: str) -> None:
    _length(value.fallback, f"{where}.fallback", 1024, required=True)
    if not _CURRENCY.match(value.code or ""):
        raise MessageLimitError(f"{where}.code", f"must be an ISO 4217 code such as 'EUR', got {value.code!r}")
    if not isinstance(value.amount_1000, int) or isinstance(value.amount_1000, bool):
        raise MessageLimitError(
            f"{where}.amount_1000", f"must be a whole number (the amount x 1,000), got {value.amount_1000!r}"
        )


def _carousel(message: model.ProductCarouselMessage, limits: WhatsAppLimits) -> None:
    _length(message.body, "body", limits.interactive_body, required=True)
    _count(message.retailer_ids, "cards", limits.carousel_cards_min, limits.carousel_cards_max)
    _unique(message.retailer_ids, "cards", "retailer_id")
    _length(message.catalog_id, "catalog_id", 100, required=True)


def _flow(message: model.FlowMessage, limits: WhatsAppLimits) -> None:
    _common(message, limits)
    _length(message.flow_id, "flow_id", 100, required=True)
    _length(message.flow_token, "flow_token", limits.flow_token, required=True)
    _length(message.cta, "cta", limits.flow_cta, required=True)
    _length(message.screen, "screen", 100, required=True)


def _offer(message: model.OfferTemplateMessage, limits: WhatsAppLimits) -> None:
    """A template with the 2026 marketing parts: coupon code, offer expiry, product cards."""
    _template(message, limits)
    if message.coupon_code:
        _length(message.coupon_code, "coupon_code", limits.coupon_code, required=True)
        if _BAD_PARAMETER.search(message.coupon_code) or " " in message.coupon_code:
            raise MessageLimitError("coupon_code", "a coupon code has no spaces, new-lines or tabs")
    if message.offer_expires_at is not None and (
        not isinstance(message.offer_expires_at, int) or message.offer_expires_at <= 0
    ):
        raise MessageLimitError("offer_expires_at", "must be a time in epoch milliseconds")
    if message.cards:
        _count(message.cards, "cards", 1, limits.template_cards)
        _unique([card.retailer_id for card in message.cards], "cards", "retailer_id")


def _contact_request(message: ContactInfoRequest, limits: WhatsAppLimits) -> None:
    _length(message.body, "body", limits.interactive_body, required=True)
    _length(message.footer, "footer", limits.interactive_footer, required=False)


_VALIDATORS: dict[type[model.Outbound], Callable[[Any, WhatsAppLimits], None]] = {
    model.TextMessage: _text,
    model.ListMessage: _list,
    model.ButtonsMessage: _buttons,
    model.LinkButtonMessage: _link_button,
    model.ProductMessage: _product,
    model.ProductListMessage: _product_list,
    model.CatalogMessage: _catalog,
    model.TemplateMessage: _template,
    model.OfferTemplateMessage: _offer,
    model.ProductCarouselMessage: _carousel,
    model.FlowMessage: _flow,
    ContactInfoRequest: _contact_request,
}

#: The outbound types WhatsApp shows natively.
SUPPORTED_TYPES: frozenset[type[model.Outbound]] = frozenset(_VALIDATORS)
