"""Canonical outbound messages -> WhatsApp Cloud API ``/messages`` payloads (whatsapp-cloud-api.md §1-2).

Pure functions, no I/O. Validation is :mod:`connector_whatsapp.limits`' job; rendering assumes a
valid message.
"""

from __future__ import annotations

from typing import Any

from connector_meta.ids import BSUID
from connector_whatsapp.contact_request import ContactInfoRequest
from connector_whatsapp.contact_request import render as render_contact_request
from connector_whatsapp.limits import MEDIA_TYPES

from connector import model


def envelope(to: str, kind: str, content: dict[str, Any], *, reply_to: str | None = None) -> dict[str, Any]:
    """The fields every send carries, plus the object named after ``type``. ``to`` is a wa_id (phone digits) or,
    for a customer whose number WhatsApp hides (2026), their business-scoped user id, which goes in ``recipient``."""
    address = "recipient" if BSUID.fullmatch(to) else "to"
    payload: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        address: to,
        "type": kind,
    }
    if reply_to:
        payload["context"] = {"message_id": reply_to}
    payload[kind] = content
    return payload


def _interactive(kind: str, message: Any, action: dict[str, Any], *, header: bool = True) -> dict[str, Any]:
    content: dict[str, Any] = {"type": kind}
    if header and getattr(message, "header", None):
        content["header"] = {"type": "text", "text": message.header}
    if getattr(message, "body", None):
        content["body"] = {"text": message.body}
    if getattr(message, "footer", None):
        content["footer"] = {"text": message.footer}
    content["action"] = action
    return content


def render_content(message: model.Outbound) -> tuple[str, dict[str, Any]]:
    """``(type, object)`` for one canonical message."""
    match message:
        case model.TextMessage():
            return "text", {"preview_url": message.preview_url, "body": message.body}
        case model.ListMessage():
            sections = []
            for section in message.sections:
                rendered: dict[str, Any] = {"rows": [_row(row) for row in section.rows]}
                if section.title:
                    rendered = {"title": section.title, **rendered}
                sections.append(rendered)
            return "interactive", _interactive("list", message, {"button": message.button, "sections": sections})
        case model.ButtonsMessage():
            buttons = [{"type": "reply", "reply": {"id": b.id, "title": b.title}} for b in message.buttons]
            return "interactive", _interactive("button", message, {"buttons": buttons})
        case model.LinkButtonMessage():
            action: dict[str, Any] = {
                "name": "cta_url",
                "parameters": {"display_text": message.display_text, "url": message.url},
            }
            return "interactive", _interactive("cta_url", message, action)
        case model.ProductMessage():
            action = {"catalog_id": message.catalog_id, "product_retailer_id": message.retailer_id}
            return "interactive", _interactive("product", message, action, header=False)
        case model.ProductListMessage():
            product_sections = []
            for product_section in message.sections:
                items = [{"product_retailer_id": rid} for rid in product_section.retailer_ids]
                product_sections.append(
                    {"title": product_section.title, "product_items": items}
                    if product_section.title
                    else {"product_items": items}
                )
            return "interactive", _interactive(
                "product_list", message, {"catalog_id": message.catalog_id, "sections": product_sections}
            )
        case model.CatalogMessage():
            action = {"name": "catalog_message"}
            if message.thumbnail_retailer_id:
                action["parameters"] = {"thumbnail_product_retailer_id": message.thumbnail_retailer_id}
            return "interactive", _interactive("catalog_message", message, action, header=False)
        case model.ProductCarouselMessage():
            cards = [
                {
                    "card_index": index,
                    "type": "product",
                    "action": {"product_retailer_id": retailer_id, "catalog_id": message.catalog_id},
                }
                for index, retailer_id in enumerate(message.retailer_ids)
            ]
            return "interactive", {"type": "carousel", "body": {"text": message.body}, "action": {"cards": cards}}
        case model.FlowMessage():
            payload: dict[str, Any] = {"screen": message.screen}
            if message.data:
                payload["data"] = message.data
            parameters = {
                "flow_message_version": "3",
                "flow_id": message.flow_id,
                "flow_token": message.flow_token,
                "flow_cta": message.cta,
                "flow_action": "navigate",
                "flow_action_payload": payload,
            }
            return "interactive", _interactive("flow", message, {"name": "flow", "parameters": parameters})
        case model.TemplateMessage():
            return "template", _template(message)
        case ContactInfoRequest():
            return "interactive", render_contact_request(message)
    raise TypeError(f"WhatsApp cannot render {type(message).__name__}")


def render_message(to: str, message: model.Outbound, *, reply_to: str | None = None) -> dict[str, Any]:
    """The full JSON body for ``POST /{phone_number_id}/messages``."""
    kind, content = render_content(message)
    return envelope(to, kind, content, reply_to=reply_to)


def _row(row: model.ListRow) -> dict[str, Any]:
    rendered = {"id": row.id, "title": row.title}
    if row.description:
        rendered["description"] = row.description
    return rendered


def _template(message: model.TemplateMessage) -> dict[str, Any]:
    """Header and body parameters are typed (a plain ``str`` is text); each button parameter fills the URL suffix of
    the URL button at the same position (``index`` "0", "1"), so create templates with their URL buttons first."""
    components: list[dict[str, Any]] = []
    if message.header_parameters:
        components.append({"type": "header", "parameters": [_parameter(p) for p in message.header_parameters]})
    if message.body_parameters:
        components.append({"type": "body", "parameters": [_parameter(p) for p in message.body_parameters]})
    offer = message if isinstance(message, model.OfferTemplateMessage) else None
    if offer is not None and offer.offer_expires_at is not None:
        expiry = {"type": "limited_time_offer", "limited_time_offer": {"expiration_time_ms": offer.offer_expires_at}}
        components.append({"type": "limited_time_offer", "parameters": [expiry]})
    # A coupon's copy-code button comes first (index 0, as in Meta's offer templates); URL buttons follow it.
    first_url = 0
    if offer is not None and offer.coupon_code:
        coupon = {"type": "coupon_code", "coupon_code": offer.coupon_code}
        components.append({"type": "button", "sub_type": "copy_code", "index": "0", "parameters": [coupon]})
        first_url = 1
    for index, value in enumerate(message.button_parameters, start=first_url):
        components.append({"type": "button", "sub_type": "url", "index": str(index), "parameters": [_text(value)]})
    if offer is not None and offer.cards:
        components.append({"type": "carousel", "cards": [_card(i, card) for i, card in enumerate(offer.cards)]})
    template: dict[str, Any] = {"name": message.name, "language": {"code": message.language, "policy": "deterministic"}}
    if components:
        template["components"] = components
    return template


def _card(index: int, card: model.TemplateCard) -> dict[str, Any]:
    """One product card of a product-card carousel template (send-time shape REPORTED by whatsapp-api-js)."""
    product: dict[str, str] = {"product_retailer_id": card.retailer_id}
    if card.catalog_id:
        product["catalog_id"] = card.catalog_id
    header = {"type": "header", "parameters": [{"type": "product", "product": product}]}
    return {"card_index": index, "components": [header]}


def _parameter(value: model.TemplateValue) -> dict[str, Any]:
    """One template parameter object: text, currency, date_time or a header's image / document / video."""
    match value:
        case str():
            return _text(value)
        case model.TextParameter():
            return _text(value.text)
        case model.CurrencyParameter():
            currency = {"fallback_value": value.fallback, "code": value.code, "amount_1000": value.amount_1000}
            return {"type": "currency", "currency": currency}
        case model.DateTimeParameter():
            return {"type": "date_time", "date_time": {"fallback_value": value.fallback}}
        case model.MediaParameter() if type(value) in MEDIA_TYPES:
            kind = MEDIA_TYPES[type(value)]
            return {"type": kind, kind: {"link": value.link}}
    raise TypeError(f"WhatsApp cannot render the template parameter {value!r}")


def _text(value: str) -> dict[str, str]:
    return {"type": "text", "text": value}
