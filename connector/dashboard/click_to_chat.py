"""Click-to-chat: per WhatsApp number a wa.me link with prefilled text, a QR code (PNG, SVG) and a website widget.

The widget (a button plus an opt-in checkbox) posts an opt-in request to the public endpoint
``/dashboard/public/opt-in`` and then opens the chat with the confirmation text prefilled: the consent is granted
only when the customer sends it on WhatsApp (double opt-in, :mod:`connector.notify.double_opt_in`).
"""

from __future__ import annotations

import io
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import segno
from flask import Blueprint, Response, abort, jsonify, render_template, request, url_for

from connector.api.scope import current
from connector.dashboard.security import login_required
from connector.db.models import ChannelConnection
from connector.errors import ConnectorError
from connector.web.context import runtime

if TYPE_CHECKING:
    from connector.runtime import Runtime


def wa_link(number: str, text: str) -> str:
    """The ``https://wa.me/<digits>?text=...`` link that opens a chat with the number, text prefilled."""
    digits = re.sub(r"\D", "", number)
    return f"https://wa.me/{digits}?text={quote(text)}"


def whatsapp_numbers(rt: Runtime) -> list[dict[str, Any]]:
    """Every WhatsApp channel of the user's workspace with its display number (asked from the platform once per page view)."""
    numbers = []
    for channel in rt.connections.channels(workspace_id=current().workspace_id):
        if channel.channel != "whatsapp":
            continue
        try:
            info = rt.connections.test("channel", channel.id)
            number = str(info.details.get("display_phone_number") or "")
            problem = "" if number else "the platform reported no display number"
        except ConnectorError as exc:
            number, problem = "", str(exc)
        text = rt.config.dashboard.click_to_chat_text
        numbers.append(
            {
                "channel": channel,
                "number": number,
                "digits": re.sub(r"\D", "", number),
                "problem": problem,
                "link": wa_link(number, text) if number else "",
            }
        )
    return numbers


def register(bp: Blueprint) -> None:
    """Add click-to-chat pages and the public opt-in endpoint to the dashboard blueprint."""

    @bp.get("/click-to-chat")
    @login_required
    def click_to_chat() -> Any:
        """Links, QR codes and the widget snippet for every WhatsApp number."""
        rt = runtime()
        opt_in_url = rt.config.public_url + url_for("dashboard_public.opt_in")
        return render_template("dashboard/click_to_chat.html", numbers=whatsapp_numbers(rt), opt_in_url=opt_in_url)

    @bp.get("/click-to-chat/<int:channel_id>/qr.<fmt>")
    @login_required
    def click_to_chat_qr(channel_id: int, fmt: str) -> Response:
        """The QR code of a number's wa.me link, as PNG or SVG."""
        if fmt not in ("png", "svg"):
            abort(404, description="QR codes come as .png or .svg")
        found = next((n for n in whatsapp_numbers(runtime()) if n["channel"].id == channel_id), None)
        if found is None or not found["link"]:
            abort(404, description="no WhatsApp number with a display number on that connection")
        qr = segno.make(found["link"], error="m")
        buffer = io.BytesIO()
        if fmt == "png":
            qr.save(buffer, kind="png", scale=8, border=2)
            mimetype = "image/png"
        else:
            qr.save(buffer, kind="svg", scale=8, border=2, title="WhatsApp QR code")
            mimetype = "image/svg+xml"
        return Response(buffer.getvalue(), mimetype=mimetype)


def _too_many(wait: int) -> Response:
    response = jsonify({"error": "too many requests; try again later"})
    response.status_code = 429
    response.headers["Retry-After"] = str(max(1, wait))
    return response


def public_blueprint() -> Blueprint:
    """Routes without login: the opt-in endpoint the website widget posts to (CORS open, JSON or form)."""
    bp = Blueprint("dashboard_public", __name__, url_prefix="/public")

    @bp.after_request
    def _cors(response: Response) -> Response:
        response.headers["Access-Control-Allow-Origin"] = "*"
        response.headers["Access-Control-Allow-Headers"] = "Content-Type"
        response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        return response

    @bp.route("/opt-in", methods=["POST", "OPTIONS"])
    def opt_in() -> Any:
        """Record a customer's opt-in *request* from the website widget (phone, channel, the checkbox text they
        agreed to); it is granted when the customer sends the answer's ``confirm_text`` on WhatsApp."""
        if request.method == "OPTIONS":
            return Response(status=204)
        try:
            from connector.notify import double_opt_in
            from connector.notify.consent import PURPOSES
            from connector.notify.contacts import contact_for_phone
            from connector.notify.public_limits import address_wait, phone_wait
        except ImportError:
            return jsonify({"error": "consent storage (the notify module) is not installed on this server"}), 503
        wait = address_wait()
        if wait:
            return _too_many(wait)
        data = request.get_json(silent=True) if request.is_json else request.form.to_dict()
        if not isinstance(data, dict):
            return jsonify({"error": "send a JSON object or a form"}), 400
        phone = re.sub(r"\D", "", str(data.get("phone", "")))
        if not 8 <= len(phone) <= 15:
            return jsonify({"error": "phone must be a number in international format, e.g. +49 151 12345678"}), 400
        if str(data.get("consent", "")).lower() not in ("1", "true", "yes", "on"):
            return jsonify({"error": "consent must be given: the customer has to tick the checkbox"}), 400
        channel_id = data.get("channel_connection_id")
        if not str(channel_id or "").isdigit():
            return jsonify({"error": "channel_connection_id is required"}), 400
        text = str(data.get("text") or "")[:1000]
        if not text:
            return jsonify({"error": "text (the checkbox wording the customer agreed to) is required"}), 400
        purposes = data.get("purposes") or list(PURPOSES)
        if isinstance(purposes, str):
            purposes = [p.strip() for p in purposes.split(",") if p.strip()]
        if not isinstance(purposes, list) or any(p not in PURPOSES for p in purposes):
            return jsonify({"error": f"purposes must be a list of {', '.join(PURPOSES)}"}), 400
        wait = phone_wait(phone)
        if wait:
            return _too_many(wait)
        rt = runtime()
        page = str(data.get("page") or request.headers.get("Referer") or "")[:300]
        with rt.db.session() as session:
            channel = session.get(ChannelConnection, int(str(channel_id)))  # digits, checked above
            if channel is None or channel.channel != "whatsapp":
                return jsonify({"error": f"no WhatsApp channel connection {channel_id}"}), 404
            contact = contact_for_phone(session, channel.shop_connection_id, phone)
            if contact is None:
                return jsonify({"error": "this shop has no enabled WhatsApp channel"}), 404
            pending = double_opt_in.request(
                rt,
                session,
                contact=contact,
                purposes=purposes,
                source=f"website widget {page}".strip(),
                text=text,
                client=request.remote_addr or "",
            )
        double_opt_in.prompt(rt, pending.id)
        body = {"status": "pending", "confirm_text": pending.confirm_text, "expires_at": pending.expires_at.isoformat()}
        return jsonify(body), 202

    return bp
