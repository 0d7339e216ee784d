"""Parse ``entry[].messaging[]`` webhook deliveries into canonical events (pure: no network).

Envelope: ``{"object": "page" | "instagram", "entry": [{"id", "time", "messaging": [event, ...]}]}``; times
are epoch milliseconds. Events handled:

* ``message``: text -> :class:`InboundText`; ``quick_reply`` -> :class:`InboundReply` (``quick_reply``);
  attachments (image, sticker, share, story_mention...) -> :class:`InboundMedia` (its URL; a ``title`` as caption);
  legacy ``location`` attachments -> :class:`InboundLocation`; ``is_echo`` (our own messages) ignored;
  ``is_deleted`` (an Instagram unsend) -> :class:`InboundUnsend` with id ``unsend:<mid>`` (the stored message is
  marked deleted; the unsend is no redelivery of it);
* ``message_edit`` -> :class:`InboundEdit` with id ``edit:<mid>:<num_edit>`` (the stored original is marked edited);
* ``postback`` -> :class:`InboundReply` (``postback``);
* ``delivery`` (``mids``) -> ``DeliveryStatus(DELIVERED)`` per mid;
* ``read``: Instagram's ``read.mid`` -> ``DeliveryStatus(READ)``; Messenger's ``read.watermark`` (no mid) ->
  :class:`WatermarkStatus` (everything sent before the watermark was read);
* ``reaction`` -> ``InboundOther(type="reaction")``; a standalone ``referral`` (an m.me / ig.me link or an ad that
  opened an existing thread) -> ``InboundOther(type="referral")``.

A ``referral`` on a message or on its own becomes :class:`connector.model.Referral` on the event: ``source`` /
``type`` / ``ref`` / ``ad_id`` as they come, an ad's ``ads_context_data`` (title, post, ``product_id``), and an
Instagram Shop ``product.id`` as the referred product's retailer id.

Other events (optins, handover, ``standby`` for secondary receivers) carry nothing the connector acts on.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connector import model
from connector.adapters import ParsedWebhook
from connector.errors import WebhookRejected
from connector.payload import check_channel_events
from connector.timestamps import epoch_or_none


@dataclass(slots=True)
class WatermarkStatus(model.DeliveryStatus):
    """A Messenger read receipt: every message sent to ``recipient_id`` before ``watermark`` was read.

    Messenger's ``read`` event names no message, so ``message_id`` is empty; the core applies it to every
    message sent to the recipient up to :attr:`~connector.model.DeliveryStatus.watermark`.
    """


def delivery_id(body: bytes) -> str:
    """A stable id for one delivery: Meta sends none, so the SHA-256 of the raw body (redeliveries match)."""
    return "sha256:" + hashlib.sha256(body).hexdigest()


def _time(ms: Any) -> datetime | None:
    if isinstance(ms, bool) or not isinstance(ms, int | float):
        return None
    # Older fixtures carry seconds; anything below 10^11 cannot be milliseconds after 1973. Out of range: None.
    return epoch_or_none(ms, millis=ms > 10**11, where="messenger timestamp")


def _obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise WebhookRejected(400, f"{where} must be an object")
    return value


def _id(value: Any, where: str) -> str:
    ident = _obj(value, where).get("id")
    if not isinstance(ident, str | int) or isinstance(ident, bool) or str(ident) == "":
        raise WebhookRejected(400, f"{where}.id is missing")
    return str(ident)


def _referral(value: Any, where: str) -> model.Referral:
    """A Messenger / Instagram ``referral``: an m.me / ig.me link (``ref``, ``source``, ``type``), an ad (``ad_id``,
    ``ads_context_data``) or the Instagram Shop product the customer wrote from (``product.id``)."""
    raw = _obj(value, where)
    ads: dict[str, Any] = found if isinstance(found := raw.get("ads_context_data"), dict) else {}
    product: dict[str, Any] = found if isinstance(found := raw.get("product"), dict) else {}
    retailer_id = product.get("id") or ads.get("product_id") or ""
    return model.Referral(
        source_type=str(raw.get("source") or ("product" if retailer_id else "")),
        source_id=str(raw.get("ad_id") or ads.get("post_id") or ""),
        source_url=str(raw.get("referer_uri") or ""),
        headline=str(ads.get("ad_title") or ""),
        ref=str(raw.get("ref") or ""),
        product_retailer_id=str(retailer_id),
        raw=dict(raw),
    )


class _EventParser:
    """Turns one ``messaging[]`` event into zero or more canonical events."""

    def __init__(self, channel: str):
        self.channel = channel

    def parse(self, event: dict[str, Any], where: str) -> list[Any]:
        sender = _id(event.get("sender"), f"{where}.sender")
        recipient = _id(event.get("recipient"), f"{where}.recipient")
        when = _time(event.get("timestamp"))
        contact = model.Contact(channel=self.channel, channel_user_id=sender)
        if "message" in event:
            return self._message(_obj(event["message"], f"{where}.message"), contact, when, where)
        if "message_edit" in event:
            return [self._edit(_obj(event["message_edit"], f"{where}.message_edit"), contact, when, where)]
        if "postback" in event:
            return [self._postback(_obj(event["postback"], f"{where}.postback"), contact, when, where)]
        if "delivery" in event:
            delivery = _obj(event["delivery"], f"{where}.delivery")
            mids = delivery.get("mids") or []
            # The page's own events: the sender is the customer's device, the messages went to the sender.
            return [
                model.DeliveryStatus(
                    message_id=str(mid), state=model.DeliveryState.DELIVERED, recipient_id=sender, timestamp=when
                )
                for mid in mids
            ]
        if "read" in event:
            return [self._read(_obj(event["read"], f"{where}.read"), sender, when)]
        if "reaction" in event:
            reaction = _obj(event["reaction"], f"{where}.reaction")
            mid = f"reaction:{reaction.get('mid', '')}:{sender}:{event.get('timestamp')}"
            return [model.InboundOther(message_id=mid, sender=contact, timestamp=when, type="reaction")]
        if "referral" in event:
            referral = _referral(event["referral"], f"{where}.referral")
            mid = f"referral:{sender}:{recipient}:{event.get('timestamp')}"
            return [
                model.InboundOther(message_id=mid, sender=contact, timestamp=when, type="referral", referral=referral)
            ]
        return []

    def _message(self, message: dict[str, Any], contact: model.Contact, when: datetime | None, where: str) -> list[Any]:
        if message.get("is_echo"):
            return []  # our own outgoing message, echoed back
        mid = message.get("mid")
        if not isinstance(mid, str) or not mid:
            raise WebhookRejected(400, f"{where}.message.mid is missing")
        if message.get("is_deleted"):
            # Instagram's unsend: same mid as the message withdrawn, so it needs an id of its own (else it would be
            # taken for a redelivery of that message); storing it marks the original deleted.
            return [
                model.InboundUnsend(
                    message_id=f"unsend:{mid}", sender=contact, timestamp=when, type="deleted", original_message_id=mid
                )
            ]
        referral = _referral(message["referral"], f"{where}.message.referral") if "referral" in message else None
        quick_reply = message.get("quick_reply")
        if isinstance(quick_reply, dict) and "payload" in quick_reply:
            return [
                model.InboundReply(
                    message_id=mid,
                    sender=contact,
                    timestamp=when,
                    reply_id=str(quick_reply["payload"]),
                    title=str(message.get("text", "")),
                    kind="quick_reply",
                    referral=referral,
                )
            ]
        text = message.get("text")
        if isinstance(text, str) and text:
            return [model.InboundText(message_id=mid, sender=contact, timestamp=when, text=text, referral=referral)]
        attachments = message.get("attachments") or []
        if attachments:
            first = _obj(attachments[0], f"{where}.message.attachments[0]")
            coordinates = (
                (first.get("payload") or {}).get("coordinates") if isinstance(first.get("payload"), dict) else None
            )
            if first.get("type") == "location" and isinstance(coordinates, dict):
                return [
                    model.InboundLocation(
                        message_id=mid,
                        sender=contact,
                        timestamp=when,
                        latitude=float(coordinates.get("lat", 0.0)),
                        longitude=float(coordinates.get("long", 0.0)),
                        name=str(first.get("title", "")),
                        referral=referral,
                    )
                ]
            payload: dict[str, Any] = found if isinstance(found := first.get("payload"), dict) else {}
            return [
                model.InboundMedia(
                    message_id=mid,
                    sender=contact,
                    timestamp=when,
                    type=str(first.get("type", "unknown")),
                    referral=referral,
                    media_id=str(payload.get("url") or payload.get("attachment_id") or ""),
                    caption=str(first.get("title") or ""),
                )
            ]
        return [model.InboundOther(message_id=mid, sender=contact, timestamp=when, type="unknown", referral=referral)]

    def _edit(
        self, edit: dict[str, Any], contact: model.Contact, when: datetime | None, where: str
    ) -> model.InboundEdit:
        """``message_edit`` (field ``message_edits``): ``{"mid", "text", "num_edit"}``, at most five per message."""
        mid = edit.get("mid")
        if not isinstance(mid, str) or not mid:
            raise WebhookRejected(400, f"{where}.message_edit.mid is missing")
        number = edit.get("num_edit")
        return model.InboundEdit(
            message_id=f"edit:{mid}:{number if isinstance(number, int) and not isinstance(number, bool) else 0}",
            sender=contact,
            timestamp=when,
            type="edit",
            original_message_id=mid,
            text=str(edit.get("text") or ""),
        )

    def _postback(
        self, postback: dict[str, Any], contact: model.Contact, when: datetime | None, where: str
    ) -> model.InboundReply:
        payload = postback.get("payload")
        if payload is None:
            raise WebhookRejected(400, "postback.payload is missing")
        # ``mid`` exists since v11.0; older deliveries get a stable id from sender and time.
        mid = postback.get("mid") or f"postback:{contact.channel_user_id}:{int(when.timestamp() * 1000) if when else 0}"
        return model.InboundReply(
            message_id=str(mid),
            sender=contact,
            timestamp=when,
            reply_id=str(payload),
            title=str(postback.get("title", "")),
            kind="postback",
            # "Get Started" in a new thread opened from an m.me / ig.me link or an ad carries the referral here.
            referral=_referral(postback["referral"], f"{where}.postback.referral") if "referral" in postback else None,
        )

    def _read(self, read: dict[str, Any], reader: str, when: datetime | None) -> model.DeliveryStatus:
        if read.get("mid"):
            return model.DeliveryStatus(
                message_id=str(read["mid"]), state=model.DeliveryState.READ, recipient_id=reader, timestamp=when
            )
        return WatermarkStatus(
            message_id="",
            state=model.DeliveryState.READ,
            recipient_id=reader,
            timestamp=when,
            watermark=_time(read.get("watermark")),
        )


def parse_messaging(body: bytes, payload: Any, *, channel: str, expected_object: str, account_id: str) -> ParsedWebhook:
    """Parse a verified delivery. Entries for another page/account than ``account_id`` are skipped.

    Raises ``WebhookRejected(400, reason)`` when the body is not a messaging webhook for ``expected_object``.
    """
    envelope = _obj(payload, "body")
    obj = envelope.get("object")
    if obj != expected_object:
        raise WebhookRejected(400, f"object is {obj!r}, a {channel} webhook has object {expected_object!r}")
    entries = envelope.get("entry")
    if not isinstance(entries, list):
        raise WebhookRejected(400, "entry must be a list")
    parser = _EventParser(channel)
    events: list[Any] = []
    for i, raw_entry in enumerate(entries):
        entry = _obj(raw_entry, f"entry[{i}]")
        if str(entry.get("id", "")) != account_id:
            continue
        messaging = entry.get("messaging", [])
        if not isinstance(messaging, list):
            raise WebhookRejected(400, f"entry[{i}].messaging must be a list")
        for j, event in enumerate(messaging):
            events.extend(parser.parse(_obj(event, f"entry[{i}].messaging[{j}]"), f"entry[{i}].messaging[{j}]"))
    return ParsedWebhook(delivery_id=delivery_id(body), topic=f"{obj}.messaging", events=check_channel_events(events))
