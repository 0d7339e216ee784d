"""The control API under ``/_sandbox/``: act as customers, read what they saw, tune and reset the sandbox."""

from __future__ import annotations

import re
from typing import Any

from connector_meta.sandbox import catalog as catalog_api
from connector_meta.sandbox import pricing as pricing_api
from connector_meta.sandbox import signals, utility
from connector_meta.sandbox.errors import GraphError
from connector_meta.sandbox.events import OBJECTS, VerificationFailed, WebhookHub
from connector_meta.sandbox.inbound_2026 import messenger_parties
from connector_meta.sandbox.state import GraphState, InboundRecord, MessengerUser
from connector_meta.sandbox.templates import create_template, seed_templates
from flask import Blueprint, Response, jsonify, request


class ControlError(Exception):
    """A control-API call that cannot be done (unknown row, product, option...)."""


def _digits(number: Any) -> str:
    return re.sub(r"\D", "", str(number))


def _find_sent(state: GraphState, recipient: str, match: Any) -> tuple[dict[str, Any], Any]:
    """The newest message sent to ``recipient`` for which ``match(body)`` returns something."""
    for record in reversed(state.messages.get(recipient, [])):
        found = match(record["body"])
        if found is not None:
            return record, found
    raise ControlError(f"no message sent to {recipient} offers that choice")


def _list_row(row_id: str) -> Any:
    def match(body: dict[str, Any]) -> dict[str, Any] | None:
        interactive = body.get("interactive") or {}
        if interactive.get("type") != "list":
            return None
        for section in interactive["action"]["sections"]:
            for row in section["rows"]:
                if row["id"] == row_id:
                    return row
        return None

    return match


def _reply_button(button: str) -> Any:
    def match(body: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        interactive = body.get("interactive") or {}
        if interactive.get("type") == "button":
            for item in interactive["action"]["buttons"]:
                if button in (item["reply"]["id"], item["reply"]["title"]):
                    return "interactive", item["reply"]
        return None

    return match


def _template_button(state: GraphState, button: str) -> Any:
    """A quick-reply button of a template message, pressed by its text."""

    def match(body: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        sent = body.get("template")
        if body.get("type") != "template" or not sent:
            return None
        template = state.templates.get((sent["name"], sent["language"]["code"]))
        for component in template.components if template else []:
            if str(component.get("type")).upper() != "BUTTONS":
                continue
            for index, item in enumerate(component.get("buttons") or []):
                if str(item.get("type")).upper() == "QUICK_REPLY" and item.get("text") == button:
                    payload = item["text"]
                    for part in sent.get("components") or []:
                        if str(part.get("type")).lower() == "button" and int(part.get("index", -1)) == index:
                            payload = (part.get("parameters") or [{}])[0].get("payload", payload)
                    return "button", {"payload": payload, "text": item["text"]}
        return None

    return match


def _messenger_choice(payload: str) -> Any:
    def match(body: dict[str, Any]) -> tuple[str, str] | None:
        message = body.get("message") or {}
        for reply in message.get("quick_replies") or []:
            if reply.get("payload") == payload:
                return "quick_reply", reply.get("title", "")
        template = (message.get("attachment") or {}).get("payload") or {}
        buttons = list(template.get("buttons") or [])
        for element in template.get("elements") or []:
            buttons.extend(element.get("buttons") or [])
        for button in buttons:
            if button.get("type") == "postback" and button.get("payload") == payload:
                return "postback", button["title"]
        return None

    return match


#: The fields of a Click-to-WhatsApp ``referral`` (whatsapp-cloud-api.md §9), all strings.
CTWA_FIELDS = (
    "source_url",
    "source_id",
    "source_type",
    "headline",
    "body",
    "media_type",
    "image_url",
    "video_url",
    "thumbnail_url",
    "ctwa_clid",
)
#: A Messenger / Instagram ``referral`` (messaging_referrals): ``ref``, ``source``, ``type``, an ad's ``ad_id`` and
#: ``ads_context_data``, or an Instagram Shop ``product``.
MESSENGER_REFERRAL_FIELDS = ("ref", "source", "type", "ad_id", "ads_context_data", "product")
ADS_CONTEXT_FIELDS = ("ad_title", "photo_url", "video_url", "post_id", "product_id", "flow_id")


def _strings(data: Any, allowed: tuple[str, ...], where: str) -> dict[str, str]:
    if not isinstance(data, dict) or not data:
        raise ControlError(f"{where} must be a non-empty object")
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ControlError(f"{where} has unknown fields {', '.join(unknown)}; known: {', '.join(allowed)}")
    if not all(isinstance(v, str) and v for v in data.values()):
        raise ControlError(f"{where} values must be non-empty strings")
    return dict(data)


def _catalog_item(state: GraphState, catalog_id: str, retailer_id: Any, where: str) -> None:
    """A customer can only write from a product the catalog shows."""
    catalog = state.catalogs.get(catalog_id)
    if catalog is None:
        raise ControlError(f"unknown catalog {catalog_id}")
    if not isinstance(retailer_id, str) or retailer_id not in catalog.items:
        raise ControlError(f"{where}: product {retailer_id!r} is not in catalog {catalog_id}")


def _ctwa_referral(data: Any) -> dict[str, str]:
    """A Click-to-WhatsApp ad (or post) referral as Meta puts it on the customer's first message."""
    referral = _strings(data, CTWA_FIELDS, "referral")
    if referral.get("source_type") not in ("ad", "post"):
        raise ControlError("referral.source_type must be ad or post")
    for required in ("source_url", "source_id"):
        if required not in referral:
            raise ControlError(f"referral.{required} is required")
    return referral


def _messenger_referral(state: GraphState, data: Any, object_name: str) -> dict[str, Any]:
    """A Messenger / Instagram referral: an m.me / ig.me link (``ref``, ``source``, ``type``), an ad (``ad_id``,
    ``source: ADS``, ``ads_context_data``) or, on Instagram, the Shop product the customer wrote from."""
    if not isinstance(data, dict) or not data:
        raise ControlError("referral must be a non-empty object")
    unknown = sorted(set(data) - set(MESSENGER_REFERRAL_FIELDS))
    if unknown:
        raise ControlError(f"referral has unknown fields {', '.join(unknown)}")
    referral: dict[str, Any] = {}
    if "product" in data:
        if object_name != "instagram":
            raise ControlError("referral.product exists on Instagram only (a message from an Instagram Shop product)")
        product = data["product"]
        if not isinstance(product, dict) or set(product) != {"id"}:
            raise ControlError("referral.product must be {id}")
        _catalog_item(state, state.business.catalog_id, product["id"], "referral.product.id")
        referral["product"] = {"id": product["id"]}
    flat = {k: v for k, v in data.items() if k not in ("product", "ads_context_data")}
    if flat:
        referral.update(_strings(flat, ("ref", "source", "type", "ad_id"), "referral"))
        if "source" not in referral or "type" not in referral:
            raise ControlError("referral needs source (SHORTLINK, ADS, ...) and type (OPEN_THREAD)")
    if "ads_context_data" in data:
        if referral.get("source") != "ADS" or "ad_id" not in referral:
            raise ControlError("referral.ads_context_data comes only with source ADS and an ad_id")
        ads = _strings(data["ads_context_data"], ADS_CONTEXT_FIELDS, "referral.ads_context_data")
        if "product_id" in ads:
            _catalog_item(state, state.business.catalog_id, ads["product_id"], "referral.ads_context_data.product_id")
        referral["ads_context_data"] = ads
    if not referral:
        raise ControlError("referral is empty")
    return referral


def control_blueprint(state: GraphState, hub: WebhookHub) -> Blueprint:
    """Routes under ``/_sandbox/``. Not authenticated: they stand in for customers and for Meta's dashboard."""
    bp = Blueprint("graph_control", __name__, url_prefix="/_sandbox")
    business = state.business

    @bp.errorhandler(ControlError)
    def _control_error(error: ControlError) -> tuple[Response, int]:
        return jsonify({"error": str(error)}), 400

    @bp.errorhandler(GraphError)
    def _graph_error(error: GraphError) -> Response:
        return error.response()

    def body() -> dict[str, Any]:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise ControlError("send a JSON object")
        return data

    # ------------------------------------------------------------------ webhooks

    @bp.post("/webhooks")
    def subscribe() -> Response:
        data = body()
        url = data.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ControlError("url must be an http(s) URL")
        wanted = data.get("object")
        objects = list(OBJECTS) if wanted is None else [wanted]
        if any(o not in OBJECTS for o in objects):
            raise ControlError(f"object must be one of {', '.join(OBJECTS)}")
        try:
            hub.subscribe(url, objects, data.get("verify_token"))
        except VerificationFailed as exc:
            raise ControlError(str(exc)) from exc
        return jsonify({"success": True, "subscriptions": hub.subscriptions})

    @bp.post("/webhooks/flush")
    def flush() -> Response:
        idle = hub.wait_idle(float(request.args.get("timeout", 10)))
        deliveries = list(hub.sender.deliveries)
        return jsonify(
            {
                "idle": idle,
                "sent": len(deliveries),
                "delivered": sum(1 for d in deliveries if d.delivered),
                "failed": sum(1 for d in deliveries if d.attempts and not d.delivered),
            }
        )

    # ------------------------------------------------------------------ WhatsApp customers

    def whatsapp_message(data: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
        phone_number_id = str(data.get("phone_number_id") or business.phone_number_id)
        if phone_number_id not in signals.portfolio_numbers(state):
            raise ControlError(f"unknown phone_number_id {phone_number_id}")
        wa_id = _digits(data.get("wa_id", ""))
        if not wa_id:
            raise ControlError("wa_id is required")
        kind = data.get("type", "text")
        message: dict[str, Any] = {
            "from": wa_id,
            "from_user_id": state.user_id_for(wa_id),
            "id": state.new_wamid(),
            "timestamp": str(int(state.now())),
        }
        if kind == "text":
            message.update(type="text", text={"body": str(data.get("text", ""))})
        elif kind == "list_reply":
            record, row = _find_sent(state, wa_id, _list_row(str(data.get("row_id"))))
            reply = {k: row[k] for k in ("id", "title", "description") if k in row}
            message.update(type="interactive", interactive={"type": "list_reply", "list_reply": reply})
            message["context"] = {"from": business.display_phone_number, "id": record["id"]}
        elif kind == "button":
            pressed = str(data.get("button"))
            try:
                record, (shape, reply) = _find_sent(state, wa_id, _reply_button(pressed))
            except ControlError:
                record, (shape, reply) = _find_sent(state, wa_id, _template_button(state, pressed))
            if shape == "interactive":
                message.update(
                    type="interactive",
                    interactive={"type": "button_reply", "button_reply": {"id": reply["id"], "title": reply["title"]}},
                )
            else:
                message.update(type="button", button=reply)
            message["context"] = {"from": business.display_phone_number, "id": record["id"]}
        elif kind == "order":
            message.update(type="order", order=_order(data))
        elif kind == "location":
            location = {k: data[k] for k in ("latitude", "longitude", "name", "address") if data.get(k) is not None}
            if "latitude" not in location or "longitude" not in location:
                raise ControlError("latitude and longitude are required")
            message.update(type="location", location=location)
        else:
            raise ControlError("type must be text, list_reply, button, order or location")
        if data.get("referred_product") is not None:
            # "Message business" on a catalog item: WhatsApp names the product in the message's context.
            if kind != "text":
                raise ControlError("referred_product comes only with a text (the customer's question)")
            product = data["referred_product"]
            if not isinstance(product, dict) or not product.get("product_retailer_id"):
                raise ControlError("referred_product needs a product_retailer_id")
            catalog_id = str(product.get("catalog_id") or business.catalog_id)
            _catalog_item(state, catalog_id, product["product_retailer_id"], "referred_product")
            message["context"] = {
                "from": business.display_phone_number,
                "id": state.new_wamid(),
                "referred_product": {"catalog_id": catalog_id, "product_retailer_id": product["product_retailer_id"]},
            }
        if data.get("referral") is not None:
            message["referral"] = _ctwa_referral(data["referral"])
        return phone_number_id, wa_id, message

    def _order(data: dict[str, Any]) -> dict[str, Any]:
        catalog_id = str(data.get("catalog_id") or business.catalog_id)
        catalog = state.catalogs.get(catalog_id)
        if catalog is None:
            raise ControlError(f"unknown catalog {catalog_id}")
        items = []
        for entry in data.get("product_items") or []:
            item = catalog.items.get(str(entry.get("product_retailer_id")))
            if item is None:
                raise ControlError(f"product {entry.get('product_retailer_id')} is not in catalog {catalog_id}")
            if item.data.get("availability") not in ("in stock", "available for order", "preorder"):
                raise ControlError(f"product {entry['product_retailer_id']} cannot be added to a cart: out of stock")
            amount, currency = catalog_api.price_amount(item.data.get("sale_price") or item.data["price"])
            as_float = float(amount)
            price: int | float = as_float
            if as_float.is_integer():
                price = int(price)
            items.append(
                {
                    "product_retailer_id": entry["product_retailer_id"],
                    "quantity": int(entry.get("quantity", 1)),
                    "item_price": price,
                    "currency": currency,
                }
            )
        if not items:
            raise ControlError("product_items must hold at least one item")
        order: dict[str, Any] = {"catalog_id": catalog_id, "product_items": items}
        if data.get("text") is not None:
            order["text"] = data["text"]
        return order

    @bp.post("/whatsapp/messages")
    def whatsapp_inbound() -> Response:
        data = body()
        with state.lock:
            phone_number_id, wa_id, message = whatsapp_message(data)
            now = state.now()
            state.wa_last_inbound[(phone_number_id, wa_id)] = now
            state.wa_inbound[message["id"]] = InboundRecord(message["id"], phone_number_id, wa_id, now)
            pricing_api.note_entry_point(state, phone_number_id, wa_id, message)
        delivered = hub.whatsapp_inbound(
            phone_number_id,
            wa_id,
            str(data.get("name") or "Customer"),
            message,
            hide_phone=bool(data.get("hide_phone")),
        )
        return jsonify({"message": message, "webhook_queued": delivered})

    # ------------------------------------------------------------------ Messenger / Instagram customers

    @bp.post("/messenger/messages")
    def messenger_inbound() -> Response:
        data = body()
        try:
            object_name, account_id, sender = messenger_parties(state, data)
        except ValueError as exc:
            raise ControlError(str(exc)) from None
        with state.lock:
            now = state.now()
            timestamp = int(now * 1000)
            event: dict[str, Any] = {"sender": {"id": sender}, "recipient": {"id": account_id}, "timestamp": timestamp}
            mid = state.new_mid()
            payload = data.get("payload")
            if payload is not None:
                title = data.get("title")
                kind = "postback" if title is not None else None
                if title is None:
                    _, (kind, title) = _find_sent(state, sender, _messenger_choice(str(payload)))
                if kind == "quick_reply":
                    event["message"] = {"mid": mid, "text": title, "quick_reply": {"payload": payload}}
                else:
                    event["postback"] = {"title": title, "payload": payload, "mid": mid}
            elif data.get("text"):
                event["message"] = {"mid": mid, "text": str(data["text"])}
            elif data.get("referral") is None:
                raise ControlError(
                    "send text, payload (a quick reply or postback the customer was offered) or referral"
                )
            if data.get("referral") is not None:
                referral = _messenger_referral(state, data["referral"], object_name)
                if "postback" in event:
                    raise ControlError("a referral comes with a text message or on its own, not with a postback")
                if "message" in event:
                    event["message"]["referral"] = referral
                else:  # messaging_referrals: the customer opened an existing thread from a link or an ad
                    if "product" in referral:
                        raise ControlError("an Instagram Shop product referral comes with the customer's message")
                    event["referral"] = referral
            state.messenger_users[sender] = MessengerUser(sender, object_name, account_id, now)
        delivered = hub.messaging_event(object_name, account_id, event)
        return jsonify({"event": event, "webhook_queued": delivered})

    # ------------------------------------------------------------------ reading state

    @bp.get("/messages")
    def messages() -> Response:
        recipient = request.args.get("to", "")
        key = recipient if recipient in state.messenger_users else _digits(recipient)
        with state.lock:
            records = list(state.messages.get(key, []))
        # ``sent_at``: when the sandbox accepted it, to the microsecond (the webhook-style ``timestamp`` is whole
        # seconds on WhatsApp, so a reply and the message it answers would share one).
        shaped = [
            {**r["body"], "_sandbox": {k: r[k] for k in ("id", "timestamp", "from", "sent_at") if k in r}}
            for r in records
        ]
        return jsonify({"messages": shaped})

    @bp.get("/whatsapp/inbound")
    def whatsapp_received() -> Response:
        """The customer's messages as the business treated them: read or not, typing indicator shown or not."""
        wa_id = _digits(request.args.get("wa_id", ""))
        with state.lock:
            now = state.now()
            sent = state.messages.get(wa_id) or []
            replied_at = sent[-1].get("sent_at") if sent else None
            records = [r.as_dict(now, replied_at) for r in state.wa_inbound.values() if r.wa_id == wa_id]
        return jsonify({"messages": records})

    @bp.get("/catalogs/<catalog_id>/items")
    def catalog_items(catalog_id: str) -> Response:
        with state.lock:
            catalog = state.catalogs.get(catalog_id)
            if catalog is None:
                raise ControlError(f"unknown catalog {catalog_id}")
            items = [dict(item.data) for item in catalog.items.values()]
        return jsonify({"items": items})

    @bp.post("/catalogs")
    def add_catalog() -> Response:
        data = body()
        catalog_id = str(data.get("id") or state.new_fbid())
        state.add_catalog(catalog_id, str(data.get("name") or f"Catalog {catalog_id}"))
        return jsonify({"id": catalog_id})

    @bp.get("/stats")
    def stats() -> Response:
        with state.lock:
            catalogs = {
                cid: {"write_calls": c.write_calls, "items": len(c.items), "batches": len(c.batches)}
                for cid, c in state.catalogs.items()
            }
            channels: dict[str, dict[str, Any]] = {
                name: {"accepted": state.accepted[name], "refused": {}}
                for name in ("whatsapp", "messenger", "instagram")
            }
            for key, count in state.refused.items():
                channel, code = key.split(":")
                channels[channel]["refused"][code] = count
            send_requests = state.send_requests
            # WhatsApp messages accepted through the Marketing Messages API (counted in ``whatsapp`` too).
            channels["marketing_messages"] = {"accepted": state.accepted["whatsapp_marketing_messages"]}
        return jsonify(
            {"catalogs": catalogs, **channels, "send_requests": send_requests, "webhooks": {"sent": hub.sent}}
        )

    # ------------------------------------------------------------------ tuning

    @bp.get("/options")
    def get_options() -> Response:
        return jsonify(state.options.as_dict())

    @bp.post("/options")
    def set_options() -> Response:
        with state.lock:
            values = body()
            try:
                if "webhook_concurrency" in values and not 1 <= int(values["webhook_concurrency"]) <= 64:
                    raise ValueError("webhook_concurrency must be between 1 and 64")
                if "send_delay_seconds" in values and not 0 <= float(values["send_delay_seconds"]) <= 120:
                    raise ValueError("send_delay_seconds must be between 0 and 120")
                state.options.update(values)
            except (ValueError, TypeError) as exc:
                raise ControlError(str(exc)) from exc
            hub.sender.set_concurrency(state.options.webhook_concurrency)
            return jsonify(state.options.as_dict())

    @bp.post("/templates")
    def add_template() -> Response:
        with state.lock:
            template = create_template(state, body())
        return jsonify(template.as_graph())

    @bp.post("/page_templates/status")
    def page_template_status() -> Response:
        """Meta's review decides a Page utility template: ``{"name", "language", "status"}``."""
        data = body()
        with state.lock:
            try:
                template = utility.set_status(
                    state, str(data.get("name")), str(data.get("language") or "en_US"), str(data.get("status"))
                )
            except (KeyError, ValueError) as exc:
                raise ControlError(str(exc)) from None
            return jsonify(template.as_graph())

    @bp.post("/templates/category")
    def recategorize_template() -> Response:
        """Meta re-categorizes a template: ``{name, language, category, at}`` (``at`` in the future: the impending
        notice now, the change then)."""
        data = body()
        at = data.get("at")
        try:
            value = pricing_api.recategorize(
                state,
                hub,
                str(data.get("name") or ""),
                str(data.get("language") or "en_US"),
                str(data.get("category") or ""),
                float(at) if at is not None else None,
            )
        except (ValueError, TypeError) as exc:
            raise ControlError(str(exc)) from exc
        return jsonify({"value": value})

    @bp.post("/clock")
    def clock() -> Response:
        seconds = float(body().get("advance", 0))
        with state.lock:
            state.clock_offset += seconds
            return jsonify({"now": state.now()})

    @bp.post("/reset")
    def reset() -> Response:
        state.reset()
        seed_templates(state)
        return jsonify({"success": True})

    return bp
