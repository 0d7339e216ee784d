"""WhatsApp webhook payloads -> canonical inbound messages and delivery statuses (whatsapp-cloud-api.md §8-9).

Pure: no network, so the core can parse before acknowledging and again in the worker.

* One delivery may batch several entries, changes, messages and statuses; every one becomes an event.
* ``delivery_id`` is a SHA-256 of the raw body: Meta sends no delivery id, and a redelivery carries the
  same bytes. Per-message dedupe uses the wamid (``Inbound.message_id``) and, for statuses,
  ``(message_id, state)``.
* The sender is keyed on ``wa_id``/``from`` (the phone number) and on the business-scoped user id
  (``from_user_id`` / ``contacts[].user_id``) when the phone number is absent (usernames, 2026).
* A Click-to-WhatsApp ``referral`` and ``context.referred_product`` (written from a catalog item) ride on the
  message itself as :class:`~connector.model.Referral`: one message, one event, one answer.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from connector_whatsapp import signals, template_updates

from connector import model
from connector.adapters import ParsedWebhook, WebhookRequest
from connector.errors import WebhookRejected
from connector.payload import check_channel_events
from connector.timestamps import epoch_or_none

log = logging.getLogger(__name__)

CHANNEL = "whatsapp"
OBJECT = "whatsapp_business_account"


def delivery_id(body: bytes) -> str:
    """A stable id for one webhook delivery: the SHA-256 of the raw body."""
    return "sha256:" + hashlib.sha256(body).hexdigest()


def parse_request(request: WebhookRequest, *, phone_number_id: str = "") -> ParsedWebhook:
    """Parse a verified ``POST`` into a :class:`ParsedWebhook`; ``WebhookRejected(400)`` when malformed. With
    ``phone_number_id``, a change naming another number (``metadata.phone_number_id``) is skipped: one Meta app
    delivers every number's changes to the same callback URL."""
    payload = request.json()
    events, fields = parse_payload(payload, phone_number_id=phone_number_id)
    return ParsedWebhook(
        delivery_id=delivery_id(request.body), topic=",".join(fields) or "none", events=check_channel_events(events)
    )


def change_phone_number_id(value: dict[str, Any]) -> str:
    """The phone number id a change's ``value`` is for (``metadata.phone_number_id``); empty for account-level
    changes, which name none."""
    metadata = value.get("metadata")
    return str(metadata.get("phone_number_id") or "") if isinstance(metadata, dict) else ""


def parse_payload(payload: Any, *, phone_number_id: str = "") -> tuple[list[Any], list[str]]:
    """Events and the distinct ``changes[].field`` names of one webhook body (with ``phone_number_id``, of the
    changes for that number and those naming none)."""
    if not isinstance(payload, dict):
        raise WebhookRejected(400, "body must be a JSON object")
    if payload.get("object") != OBJECT:
        raise WebhookRejected(400, f"object must be {OBJECT!r}, got {payload.get('object')!r}")
    entries = payload.get("entry")
    if not isinstance(entries, list):
        raise WebhookRejected(400, "entry must be a list")
    events: list[Any] = []
    fields: list[str] = []
    for e, entry in enumerate(entries):
        changes = entry.get("changes") if isinstance(entry, dict) else None
        if not isinstance(changes, list):
            raise WebhookRejected(400, f"entry[{e}].changes must be a list")
        for c, change in enumerate(changes):
            if not isinstance(change, dict) or not isinstance(change.get("value"), dict):
                raise WebhookRejected(400, f"entry[{e}].changes[{c}] needs a field and a value object")
            field = str(change.get("field") or "")
            for_number = change_phone_number_id(change["value"])
            if phone_number_id and for_number and for_number != phone_number_id:
                log.info("whatsapp change for phone number %s is not this connection's; skipped", for_number)
                continue
            if field not in fields:
                fields.append(field)
            if field == "messages":
                events.extend(_parse_value(change["value"], f"entry[{e}].changes[{c}].value"))
            elif field == "user_preferences":
                events.extend(signals.parse_user_preferences(change["value"], f"entry[{e}].changes[{c}].value"))
            elif field in ("business_capability_update", "phone_number_quality_update"):
                events.extend(signals.parse_capability_update(change["value"]))
            elif field == template_updates.FIELD:
                where = f"entry[{e}].changes[{c}].value"
                events.append(template_updates.parse_category_update(change["value"], entry, where))
            elif field == "user_id_update":
                events.extend(_parse_user_id_updates(change["value"], f"entry[{e}].changes[{c}].value"))
            else:
                log.info("whatsapp webhook field %r carries no message events; ignored", field)
    return events, fields


def _parse_value(value: dict[str, Any], where: str) -> list[Any]:
    contacts = value.get("contacts") or []
    if not isinstance(contacts, list):
        raise WebhookRejected(400, f"{where}.contacts must be a list")
    events: list[Any] = []
    for m, message in enumerate(_list(value, "messages", where)):
        events.extend(_parse_message(message, contacts, f"{where}.messages[{m}]"))
    for s, status in enumerate(_list(value, "statuses", where)):
        parsed = _parse_status(status, f"{where}.statuses[{s}]")
        if parsed is not None:
            events.append(parsed)
    for error in value.get("errors") or []:
        log.warning("whatsapp reported an error outside any message: %s", error)
    return events


def _parse_user_id_updates(value: dict[str, Any], where: str) -> list[model.InboundNumberChange]:
    """``user_id_update`` (2026): a customer's business-scoped user id was regenerated (``user_id.previous`` ->
    ``current``); the contact keeps who they are under the new id."""
    changes: list[model.InboundNumberChange] = []
    for u, update in enumerate(_list(value, "user_id_update", where)):
        ids = update.get("user_id")
        previous = ids.get("previous") if isinstance(ids, dict) else None
        current = ids.get("current") if isinstance(ids, dict) else None
        if not isinstance(previous, str) or not isinstance(current, str) or not previous or not current:
            raise WebhookRejected(400, f"{where}.user_id_update[{u}].user_id needs previous and current")
        wa_id = str(update.get("wa_id") or "")
        sender = model.Contact(
            channel=CHANNEL, channel_user_id=wa_id or previous, phone=f"+{wa_id}" if wa_id else None, user_id=previous
        )
        changes.append(
            model.InboundNumberChange(
                message_id=f"user_id_update:{previous}:{current}",
                sender=sender,
                timestamp=_timestamp(update.get("timestamp")),
                type="user_id_update",
                new_user_id=current,
            )
        )
    return changes


def _list(value: dict[str, Any], key: str, where: str) -> list[dict[str, Any]]:
    items = value.get(key) or []
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise WebhookRejected(400, f"{where}.{key} must be a list of objects")
    return items


def _timestamp(value: Any) -> datetime | None:
    """Meta's epoch seconds (a string); ``None`` (logged) when missing, no number or out of range."""
    return epoch_or_none(value, where="whatsapp timestamp")


# --------------------------------------------------------------------------- messages


def _sender(message: dict[str, Any], contacts: list[dict[str, Any]], where: str) -> model.Contact:
    phone_id = message.get("from")
    bsuid = message.get("from_user_id")
    contact = next(
        (
            c
            for c in contacts
            if isinstance(c, dict)
            and ((phone_id and c.get("wa_id") == phone_id) or (bsuid and c.get("user_id") == bsuid))
        ),
        contacts[0] if len(contacts) == 1 and isinstance(contacts[0], dict) else {},
    )
    phone_id = phone_id or contact.get("wa_id")
    bsuid = bsuid or contact.get("user_id")
    user_id = phone_id or bsuid
    if not user_id:
        raise WebhookRejected(400, f"{where} has neither 'from' nor a business-scoped user id")
    return model.Contact(
        channel=CHANNEL,
        channel_user_id=str(user_id),
        phone=f"+{phone_id}" if phone_id else None,
        name=str((contact.get("profile") or {}).get("name") or ""),
        user_id=str(bsuid) if bsuid else None,
    )


def _parse_message(message: dict[str, Any], contacts: list[dict[str, Any]], where: str) -> list[Any]:
    message_id = message.get("id")
    kind = message.get("type")
    if not message_id or not kind:
        raise WebhookRejected(400, f"{where} needs an id and a type")
    base: dict[str, Any] = {
        "message_id": str(message_id),
        "sender": _sender(message, contacts, where),
        "timestamp": _timestamp(message.get("timestamp")),
        "referral": _referral(message, where),
    }
    context: dict[str, Any] = found if isinstance(found := message.get("context"), dict) else {}
    content: dict[str, Any] = found if isinstance(found := message.get(kind), dict) else {}
    if kind == "text":
        return [model.InboundText(**base, text=str(content.get("body") or ""))]
    if kind == "interactive" and content.get("type") in ("button_reply", "list_reply"):
        reply = content.get(content["type"]) or {}
        return [
            model.InboundReply(
                **base,
                reply_id=str(reply.get("id") or ""),
                title=str(reply.get("title") or ""),
                kind="button" if content["type"] == "button_reply" else "list",
                context_message_id=context.get("id"),
            )
        ]
    if kind == "button":  # a template's quick-reply button
        return [
            model.InboundReply(
                **base,
                reply_id=str(content.get("payload") or ""),
                title=str(content.get("text") or ""),
                kind="template_button",
                context_message_id=context.get("id"),
            )
        ]
    if kind == "order":
        return [_parse_order(content, base, where)]
    if kind == "location":
        try:
            latitude, longitude = float(content["latitude"]), float(content["longitude"])
        except (KeyError, TypeError, ValueError):
            raise WebhookRejected(400, f"{where}.location needs numeric latitude and longitude") from None
        return [
            model.InboundLocation(
                **base,
                latitude=latitude,
                longitude=longitude,
                name=str(content.get("name") or ""),
                address=str(content.get("address") or ""),
            )
        ]
    if kind in MEDIA_KINDS:
        return [
            model.InboundMedia(
                **base,
                type=str(kind),
                media_id=str(content.get("id") or content.get("link") or ""),
                mime_type=str(content.get("mime_type") or ""),
                caption=str(content.get("caption") or ""),
                filename=str(content.get("filename") or ""),
            )
        ]
    if kind == "interactive" and content.get("type") == "nfm_reply":
        return [_flow_reply(content, base, context, where)]
    if kind == "system" and content.get("type") in NUMBER_CHANGES:
        return [
            model.InboundNumberChange(
                **base,
                type="system",
                new_phone=str(content.get("new_wa_id") or content.get("wa_id") or "").lstrip("+"),
                new_user_id=str(content.get("user_id") or ""),
            )
        ]
    if kind == "contacts":
        return [_shared_contacts(message, base)]
    subtype = content.get("type") if kind == "interactive" else None
    return [model.InboundOther(**base, type=f"{kind}.{subtype}" if subtype else str(kind))]


#: Message types with a media object (``id``, ``mime_type``, and for image, video and document a ``caption``).
MEDIA_KINDS = ("image", "video", "document", "audio", "sticker")
#: System messages that move a customer to a new number (``new_wa_id``) or business-scoped user id (2026).
NUMBER_CHANGES = ("user_changed_number", "user_changed_user_id")


def _flow_reply(
    content: dict[str, Any], base: dict[str, Any], context: dict[str, Any], where: str
) -> model.InboundFlowReply:
    """A completed Flow: ``nfm_reply.response_json`` is a JSON **string** (platform-changes-2026.md §6)."""
    reply = content.get("nfm_reply")
    if not isinstance(reply, dict):
        raise WebhookRejected(400, f"{where}.interactive.nfm_reply must be an object")
    raw = reply.get("response_json")
    try:
        response = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        raise WebhookRejected(400, f"{where}.interactive.nfm_reply.response_json is no JSON") from None
    if not isinstance(response, dict):
        raise WebhookRejected(400, f"{where}.interactive.nfm_reply.response_json must hold a JSON object")
    return model.InboundFlowReply(
        **base,
        type="interactive.nfm_reply",
        name=str(reply.get("name") or ""),
        body=str(reply.get("body") or ""),
        response=response,
        flow_token=str(response.get("flow_token") or ""),
        context_message_id=context.get("id"),
    )


def _shared_contacts(message: dict[str, Any], base: dict[str, Any]) -> model.InboundOther:
    """A ``contacts`` message. Tapping ``request_contact_info`` sends one with ``origin: "contact_request"``: the
    customer's own number, which a customer known only by a business-scoped user id thereby gives us."""
    shared = message.get("contacts")
    first = shared[0] if isinstance(shared, list) and shared and isinstance(shared[0], dict) else {}
    origin = str(message.get("origin") or first.get("origin") or "")
    if origin == "contact_request":
        phones: list[Any] = found if isinstance(found := first.get("phones"), list) else []
        wa_id = next((str(p["wa_id"]) for p in phones if isinstance(p, dict) and p.get("wa_id")), "")
        if wa_id.isdigit():
            sender: model.Contact = base["sender"]
            base = {**base, "sender": dataclasses.replace(sender, phone=f"+{wa_id}")}
        return model.InboundOther(**base, type="contacts.contact_request")
    return model.InboundOther(**base, type="contacts")


def _referral(message: dict[str, Any], where: str) -> model.Referral | None:
    """Where the customer came from: a Click-to-WhatsApp ad or post (``referral``) and/or the product they wrote
    from ("Message business" on a catalog item: ``context.referred_product``)."""
    ad = message.get("referral")
    context = message.get("context")
    product = context.get("referred_product") if isinstance(context, dict) else None
    if ad is None and product is None:
        return None
    if not isinstance(ad, dict | None) or not isinstance(product, dict | None):
        raise WebhookRejected(400, f"{where}.referral and {where}.context.referred_product must be objects")
    ad, product = ad or {}, product or {}
    raw = {**ad, "referred_product": product} if product else dict(ad)
    retailer_id = str(product.get("product_retailer_id") or "")
    return model.Referral(
        source_type=str(ad.get("source_type") or ("product" if retailer_id else "")),
        source_id=str(ad.get("source_id") or ""),
        source_url=str(ad.get("source_url") or ""),
        headline=str(ad.get("headline") or ""),
        body=str(ad.get("body") or ""),
        ad_click_id=str(ad.get("ctwa_clid") or ""),
        product_retailer_id=retailer_id,
        catalog_id=str(product.get("catalog_id") or ""),
        raw=raw,
    )


def _parse_order(order: dict[str, Any], base: dict[str, Any], where: str) -> model.InboundCart:
    items = order.get("product_items")
    if not isinstance(items, list) or not items:
        raise WebhookRejected(400, f"{where}.order.product_items must be a non-empty list")
    lines: list[model.CartLine] = []
    currency: str | None = None
    for i, item in enumerate(items):
        retailer_id = item.get("product_retailer_id") if isinstance(item, dict) else None
        if not retailer_id:
            raise WebhookRejected(400, f"{where}.order.product_items[{i}] has no product_retailer_id")
        try:  # real payloads send numbers, Meta's doc placeholders strings: accept both
            quantity = int(Decimal(str(item.get("quantity"))))
        except (InvalidOperation, ValueError, TypeError):
            raise WebhookRejected(400, f"{where}.order.product_items[{i}].quantity is not a number") from None
        if quantity < 1:
            raise WebhookRejected(400, f"{where}.order.product_items[{i}].quantity must be at least 1")
        unit_price = None
        currency = item.get("currency") or currency
        if item.get("item_price") is not None and item.get("currency"):
            try:
                unit_price = model.Money(Decimal(str(item["item_price"])), str(item["currency"]))
            except (InvalidOperation, ValueError):
                log.warning("%s: unreadable item_price %r", where, item.get("item_price"))
        lines.append(model.CartLine(variant_external_id=str(retailer_id), quantity=quantity, unit_price=unit_price))
    return model.InboundCart(
        **base, catalog_id=str(order.get("catalog_id") or ""), lines=lines, text=str(order.get("text") or "")
    )


# --------------------------------------------------------------------------- statuses

_STATES = {state.value: state for state in model.DeliveryState}


def _parse_status(status: dict[str, Any], where: str) -> model.DeliveryStatus | None:
    message_id = status.get("id")
    value = status.get("status")
    if not message_id or not value:
        raise WebhookRejected(400, f"{where} needs an id and a status")
    state = _STATES.get(str(value))
    if state is None:  # played (voice), deleted, ...: nothing the delivery tracking acts on
        log.info("whatsapp status %r for %s ignored", value, message_id)
        return None
    recipient = status.get("recipient_id") or status.get("recipient_user_id")
    if not recipient:
        raise WebhookRejected(400, f"{where} has neither recipient_id nor recipient_user_id")
    errors = status.get("errors") or []
    return model.DeliveryStatus(
        message_id=str(message_id),
        state=state,
        recipient_id=str(recipient),
        timestamp=_timestamp(status.get("timestamp")),
        errors=[e for e in errors if isinstance(e, dict)],
        pricing=status.get("pricing") if isinstance(status.get("pricing"), dict) else None,
        conversation=status.get("conversation") if isinstance(status.get("conversation"), dict) else None,
        callback_data=callback if isinstance(callback := status.get("biz_opaque_callback_data"), str) else None,
    )
