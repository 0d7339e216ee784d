"""Render canonical outbound messages into Send API ``message`` objects, checking every limit on the way.

Rendering and validation are one pass: every value that goes into a payload is checked against the
channel's :class:`~connector_messenger.limits.Limits` as it is placed, and a
:class:`~connector.errors.MessageLimitError` names the canonical field at fault (``sections[0].rows[3].title``).
So nothing that breaks a documented limit can reach the Send API.

One canonical message may become several Send API messages (a text, then product carousels); they are
sent in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from connector_messenger.limits import Limits
from connector_messenger.outbound import MessagingType, MetaSend, ProductCard, envelope

from connector import model
from connector.errors import MessageLimitError

#: A Send API ``message`` object: ``{"text": ...}`` or ``{"attachment": ...}``.
Message = dict[str, Any]

#: The most carousels a product list may become (30 products, the canonical limit, in cards of 10).
MAX_CAROUSELS = 3


def _check_text(value: str, field: str, limit: int, *, required: bool = True) -> str:
    if required and not value.strip():
        raise MessageLimitError(field, "must not be empty")
    if len(value) > limit:
        raise MessageLimitError(field, f"is {len(value)} characters, the limit is {limit}", limit=limit)
    return value


def _check_message_text(value: str, field: str, limits: Limits) -> str:
    _check_text(value, field, limits.text_chars)
    if limits.text_bytes is not None and len(value.encode()) > limits.text_bytes:
        raise MessageLimitError(
            field, f"is {len(value.encode())} bytes of UTF-8, the limit is {limits.text_bytes}", limit=limits.text_bytes
        )
    return value


def _check_url(url: str, field: str) -> str:
    if not url.startswith(("https://", "http://")):
        raise MessageLimitError(field, f"must be an http(s) URL, got {url!r}")
    return url


def _joined(*parts: str | None) -> str:
    return "\n\n".join(p.strip() for p in parts if p and p.strip())


def _postback(button: model.Button, field: str, limits: Limits) -> dict[str, str]:
    return {
        "type": "postback",
        "title": _check_text(button.title, f"{field}.title", limits.button_title),
        "payload": _check_text(button.id, f"{field}.id", limits.payload_chars),
    }


def _button_template(text: str, field: str, buttons: list[dict[str, str]], limits: Limits) -> Message:
    _check_text(text, field, limits.button_text)
    if not 1 <= len(buttons) <= limits.template_buttons:
        raise MessageLimitError(
            "buttons",
            f"has {len(buttons)} buttons, a button template takes 1-{limits.template_buttons}",
            limit=limits.template_buttons,
        )
    return {
        "attachment": {"type": "template", "payload": {"template_type": "button", "text": text, "buttons": buttons}}
    }


def _text(message: model.TextMessage, limits: Limits) -> list[Message]:
    return [{"text": _check_message_text(message.body, "body", limits)}]


def _list(message: model.ListMessage, limits: Limits) -> list[Message]:
    rows = [(i, j, row) for i, section in enumerate(message.sections) for j, row in enumerate(section.rows)]
    if not rows:
        raise MessageLimitError("sections", "must hold at least one row")
    if len(rows) > limits.quick_replies:
        raise MessageLimitError(
            "sections",
            f"has {len(rows)} rows, at most {limits.quick_replies} quick replies",
            limit=limits.quick_replies,
        )
    quick_replies = [
        {
            "content_type": "text",
            "title": _check_text(row.title, f"sections[{i}].rows[{j}].title", limits.quick_reply_title),
            "payload": _check_text(row.id, f"sections[{i}].rows[{j}].id", limits.payload_chars),
        }
        for i, j, row in rows
    ]
    # Quick replies have no description: list the rows that have one in the text, so nothing is lost.
    described = "\n".join(f"• {row.title}: {row.description}" for _, _, row in rows if row.description)
    text = _joined(message.header, message.body, described, message.footer)
    return [{"text": _check_message_text(text, "body", limits), "quick_replies": quick_replies}]


def _buttons(message: model.ButtonsMessage, limits: Limits) -> list[Message]:
    buttons = [_postback(b, f"buttons[{i}]", limits) for i, b in enumerate(message.buttons)]
    return [_button_template(_joined(message.header, message.body, message.footer), "body", buttons, limits)]


def _link_button(message: model.LinkButtonMessage, limits: Limits) -> list[Message]:
    button = {
        "type": "web_url",
        "url": _check_url(message.url, "url"),
        "title": _check_text(message.display_text, "display_text", limits.button_title),
    }
    return [_button_template(_joined(message.header, message.body, message.footer), "body", [button], limits)]


def _element(card: ProductCard, field: str, limits: Limits) -> dict[str, Any]:
    element: dict[str, Any] = {"title": _check_text(card.title, f"{field}.title", limits.element_title)}
    if card.subtitle_text:
        element["subtitle"] = _check_text(card.subtitle_text, f"{field}.subtitle", limits.element_subtitle)
    if card.image_url:
        element["image_url"] = _check_url(card.image_url, f"{field}.image_url")
    buttons: list[dict[str, str]] = []
    if card.url:
        _check_url(card.url, f"{field}.url")
        element["default_action"] = {"type": "web_url", "url": card.url}
        buttons.append(
            {
                "type": "web_url",
                "url": card.url,
                "title": _check_text(card.view_title, f"{field}.view_title", limits.button_title),
            }
        )
    if card.action is not None:
        buttons.append(_postback(card.action, f"{field}.action", limits))
    else:
        buttons.append(
            {
                "type": "postback",
                "title": _check_text(card.buy_title, f"{field}.buy_title", limits.button_title),
                "payload": _check_text(f"BUY:{card.retailer_id}", f"{field}.retailer_id", limits.payload_chars),
            }
        )
    buttons += [_postback(b, f"{field}.extra_buttons[{i}]", limits) for i, b in enumerate(card.extra_buttons)]
    if len(buttons) > limits.element_buttons:
        raise MessageLimitError(
            f"{field}.buttons",
            f"has {len(buttons)} buttons, at most {limits.element_buttons}",
            limit=limits.element_buttons,
        )
    element["buttons"] = buttons
    return element


def _carousels(cards: Sequence[ProductCard], limits: Limits, *, max_carousels: int) -> list[Message]:
    """Cards in generic-template carousels of at most ``generic_elements`` each."""
    size = limits.generic_elements
    most = size * max_carousels
    if len(cards) > most:
        raise MessageLimitError("products", f"has {len(cards)} products, at most {most} can be shown", limit=most)
    elements = [_element(card, f"products[{i}]", limits) for i, card in enumerate(cards)]
    return [
        {
            "attachment": {
                "type": "template",
                "payload": {"template_type": "generic", "elements": elements[i : i + size]},
            }
        }
        for i in range(0, len(elements), size)
    ]


def _cards_by_id(send: MetaSend) -> dict[str, ProductCard]:
    return {card.retailer_id: card for card in send.products}


def _lead_text(text: str, limits: Limits) -> list[Message]:
    return [{"text": _check_message_text(text, "body", limits)}] if text else []


def _product(send: MetaSend, message: model.ProductMessage, limits: Limits) -> list[Message]:
    card = _cards_by_id(send).get(message.retailer_id)
    if card is None:
        raise MessageLimitError("retailer_id", f"no product data for {message.retailer_id!r}: pass a ProductCard")
    return _lead_text(_joined(message.body, message.footer), limits) + _carousels([card], limits, max_carousels=1)


def _product_list(send: MetaSend, message: model.ProductListMessage, limits: Limits) -> list[Message]:
    known = _cards_by_id(send)
    cards: list[ProductCard] = []
    for i, section in enumerate(message.sections):
        for j, retailer_id in enumerate(section.retailer_ids):
            if retailer_id not in known:
                raise MessageLimitError(
                    f"sections[{i}].retailer_ids[{j}]", f"no product data for {retailer_id!r}: pass a ProductCard"
                )
            cards.append(known[retailer_id])
    if not cards:
        raise MessageLimitError("sections", "must hold at least one product")
    text = _joined(message.header, message.body, message.footer)
    return _lead_text(text, limits) + _carousels(cards, limits, max_carousels=MAX_CAROUSELS)


def _catalog(send: MetaSend, message: model.CatalogMessage, limits: Limits) -> list[Message]:
    cards = list(send.products)
    if not cards:
        raise MessageLimitError("products", "a catalog message needs at least one ProductCard to show")
    # The thumbnail product leads the carousel, as it leads WhatsApp's catalog message.
    cards.sort(key=lambda c: c.retailer_id != message.thumbnail_retailer_id)
    return _lead_text(_joined(message.body, message.footer), limits) + _carousels(cards, limits, max_carousels=1)


def _utility_template(template: model.TemplateMessage) -> Message:
    """``message.template`` of a Messenger utility message: name, language and the body's text parameters."""
    parameters = []
    for i, value in enumerate(template.body_parameters):
        if not isinstance(value, str) or not value:
            raise MessageLimitError(f"body_parameters[{i}]", "Messenger utility templates take non-empty text")
        parameters.append({"type": "text", "text": value})
    components = [{"type": "BODY", "parameters": parameters}] if parameters else []
    return {"template": {"name": template.name, "language": {"code": template.language}, "components": components}}


def render(message: model.Outbound, limits: Limits, channel: str) -> list[Message]:
    """The Send API ``message`` objects for ``message``, in sending order. Raises ``MessageLimitError``."""
    send = envelope(message)
    inner = send.message
    if isinstance(inner, MetaSend):
        raise MessageLimitError("message", "a MetaSend cannot wrap another MetaSend")
    if send.messaging_type is MessagingType.UTILITY and not isinstance(inner, model.TemplateMessage):
        raise MessageLimitError("type", "a UTILITY message must be a TemplateMessage (a Page utility template)")
    if isinstance(inner, model.TextMessage):
        return _text(inner, limits)
    if isinstance(inner, model.ListMessage):
        return _list(inner, limits)
    if isinstance(inner, model.ButtonsMessage):
        return _buttons(inner, limits)
    if isinstance(inner, model.LinkButtonMessage):
        return _link_button(inner, limits)
    if isinstance(inner, model.ProductMessage):
        return _product(send, inner, limits)
    if isinstance(inner, model.ProductListMessage):
        return _product_list(send, inner, limits)
    if isinstance(inner, model.CatalogMessage):
        return _catalog(send, inner, limits)
    if isinstance(inner, model.TemplateMessage):
        if send.messaging_type is not MessagingType.UTILITY or channel != "Messenger":
            raise MessageLimitError(
                "type",
                f"TemplateMessage is not supported on {channel} except as a Messenger utility message "
                "(MetaSend(messaging_type=UTILITY)) naming an approved Page template",
            )
        return [_utility_template(inner)]
    raise MessageLimitError("type", f"{type(inner).__name__} is not supported on {channel}")
