"""Control routes for what customers send in 2026 (platform-changes-2026.md §5, §6, §8.4), in Meta's exact shapes.

WhatsApp (``POST /_sandbox/whatsapp/events``, ``{"wa_id", "kind", ...}``):

* ``image`` / ``video`` / ``document`` with a ``caption`` (and a document's ``filename``);
* ``flow_reply``: the ``nfm_reply`` of a completed Flow, ``response`` serialised into the ``response_json`` string,
  ``context`` naming the flow message (``context_id``);
* ``number_change``: the ``system`` message ``user_changed_number`` with ``new_wa_id`` (the customer's BSUID is
  regenerated for the new number);
* ``contact_share``: the ``contacts`` message a tap on ``request_contact_info`` sends (``origin: "contact_request"``,
  the customer's own number);

and with ``"hide_phone": true`` the customer has a username and hid their number: no ``from``, no ``wa_id``, only
``from_user_id`` / ``contacts[].user_id``.

Messenger / Instagram (``POST /_sandbox/messenger/events``, ``{"object", "sender", "kind", ...}``):

* ``read``: Messenger's ``read.watermark`` (epoch ms, default now); Instagram's ``read.mid`` (``messaging_seen``);
* ``edit``: ``message_edit`` ``{mid, text, num_edit}``, at most five edits per message;
* ``unsend``: Instagram's ``message`` with ``is_deleted: true`` under the withdrawn message's mid.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from typing import Any

from connector_meta.sandbox.events import WebhookHub
from connector_meta.sandbox.state import GraphState, InboundRecord
from flask import Blueprint, Response, jsonify, request

#: Meta allows a Messenger message five edits.
MAX_EDITS = 5


class EventError(Exception):
    """A control call asking for something Meta would never send."""


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise EventError("send a JSON object")
    return data


def _text(data: dict[str, Any], key: str, *, required: bool = False) -> str:
    value = data.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise EventError(f"{key} must be a non-empty string" if required else f"{key} must be a string")
    return value


def messenger_parties(state: GraphState, data: dict[str, Any]) -> tuple[str, str, str]:
    """``(object, account id, sender)`` of a control call acting as a Messenger / Instagram user; ``ValueError``
    for an object or sender Meta would never send."""
    object_name = data.get("object", "page")
    if object_name not in ("page", "instagram"):
        raise ValueError("object must be page or instagram")
    business = state.business
    account_id = business.page_id if object_name == "page" else business.instagram_account_id
    sender = str(data.get("sender") or "")
    if not sender.isdigit():
        raise ValueError("sender must be a numeric PSID / IGSID")
    return str(object_name), account_id, sender


def inbound_2026_blueprint(state: GraphState, hub: WebhookHub) -> Blueprint:
    """Routes under ``/_sandbox/`` that emit the 2026 inbound payloads (module docstring)."""
    bp = Blueprint("graph_inbound_2026", __name__, url_prefix="/_sandbox")
    business = state.business
    edits: Counter[str] = Counter()

    @bp.errorhandler(EventError)
    def _event_error(error: EventError) -> tuple[Response, int]:
        return jsonify({"error": str(error)}), 400

    def _media_id(seed: str) -> str:
        return str(int(hashlib.sha256(seed.encode()).hexdigest()[:15], 16))

    def _whatsapp_content(data: dict[str, Any], wa_id: str, message: dict[str, Any]) -> None:
        kind = data.get("kind")
        if kind in ("image", "video", "document"):
            mime = {"image": "image/jpeg", "video": "video/mp4", "document": "application/pdf"}[kind]
            media: dict[str, Any] = {"mime_type": mime, "sha256": "", "id": _media_id(message["id"])}
            media["sha256"] = hashlib.sha256(media["id"].encode()).hexdigest()
            caption = _text(data, "caption")
            if caption:
                media["caption"] = caption
            if kind == "document":
                media["filename"] = _text(data, "filename") or "document.pdf"
            message.update(type=kind, **{kind: media})
        elif kind == "flow_reply":
            response = data.get("response")
            if not isinstance(response, dict) or not isinstance(response.get("flow_token"), str):
                raise EventError("response must be an object with the flow_token the flow message carried")
            message["context"] = {"from": business.display_phone_number, "id": _text(data, "context_id", required=True)}
            reply = {"name": "flow", "body": "Sent", "response_json": json.dumps(response, separators=(",", ":"))}
            message.update(type="interactive", interactive={"type": "nfm_reply", "nfm_reply": reply})
        elif kind == "number_change":
            new_wa_id = "".join(ch for ch in _text(data, "new_wa_id", required=True) if ch.isdigit())
            if len(new_wa_id) < 8 or new_wa_id == wa_id:
                raise EventError("new_wa_id must be another phone number")
            name = _text(data, "name") or "Customer"
            state.user_id_for(new_wa_id)  # the new number's BSUID (Meta regenerates it)
            message.update(
                type="system",
                system={
                    "body": f"{name} changed from {wa_id} to {new_wa_id}",
                    "new_wa_id": new_wa_id,
                    "type": "user_changed_number",
                },
            )
        elif kind == "contact_share":
            name = _text(data, "name") or "Customer"
            shared = {
                "name": {"formatted_name": name, "first_name": name},
                "phones": [{"phone": "+" + wa_id, "wa_id": wa_id, "type": "CELL"}],
                "origin": "contact_request",
            }
            message.update(type="contacts", contacts=[shared])
        else:
            raise EventError("kind must be image, video, document, flow_reply, number_change or contact_share")

    @bp.post("/whatsapp/events")
    def whatsapp_event() -> Response:
        data = _body()
        wa_id = "".join(ch for ch in str(data.get("wa_id") or "") if ch.isdigit())
        if not wa_id:
            raise EventError("wa_id is required")
        hide_phone = bool(data.get("hide_phone"))
        user_id = state.user_id_for(wa_id)
        message: dict[str, Any] = {
            "from": wa_id,
            "from_user_id": user_id,
            "id": state.new_wamid(),
            "timestamp": str(int(state.now())),
        }
        _whatsapp_content(data, wa_id, message)
        with state.lock:
            now = state.now()
            state.wa_last_inbound[(business.phone_number_id, wa_id)] = now
            state.wa_inbound[message["id"]] = InboundRecord(message["id"], business.phone_number_id, wa_id, now)
        name = _text(data, "name") or "Customer"
        delivered = hub.whatsapp_inbound(business.phone_number_id, wa_id, name, message, hide_phone=hide_phone)
        return jsonify({"message": message, "webhook_queued": delivered})

    @bp.post("/messenger/events")
    def messenger_event() -> Response:
        data = _body()
        try:
            object_name, account_id, sender = messenger_parties(state, data)
        except ValueError as exc:
            raise EventError(str(exc)) from None
        now_ms = int(state.now() * 1000)
        event: dict[str, Any] = {"sender": {"id": sender}, "recipient": {"id": account_id}, "timestamp": now_ms}
        kind = data.get("kind")
        if kind == "read":
            if object_name == "page":
                watermark = data.get("watermark", now_ms)
                if not isinstance(watermark, int) or isinstance(watermark, bool) or watermark > now_ms:
                    raise EventError("watermark must be epoch milliseconds, not in the future")
                event["read"] = {"watermark": watermark}
            else:
                event["read"] = {"mid": _text(data, "mid", required=True)}
        elif kind == "edit":
            if object_name != "page":
                raise EventError("message edits are a Messenger webhook (message_edits)")
            mid = _text(data, "mid", required=True)
            if edits[mid] >= MAX_EDITS:
                raise EventError(f"a message can be edited at most {MAX_EDITS} times")
            edits[mid] += 1
            event["message_edit"] = {"mid": mid, "text": _text(data, "text", required=True), "num_edit": edits[mid]}
        elif kind == "unsend":
            if object_name != "instagram":
                raise EventError("unsend (is_deleted) is an Instagram webhook")
            event["message"] = {"mid": _text(data, "mid", required=True), "is_deleted": True}
        else:
            raise EventError("kind must be read, edit or unsend")
        delivered = hub.messaging_event(object_name, account_id, event)
        return jsonify({"event": event, "webhook_queued": delivered})

    return bp
