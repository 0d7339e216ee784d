"""The chat simulator (demo mode): a phone-like page where you are the customer on WhatsApp or Instagram.

What you type goes to the Graph sandbox's control API (found from the channel connection's
``graph_url``), which delivers it to the connector as Meta would. What the connector sent back is read
from the sandbox (``/_sandbox/messages?to=``) and rendered as the apps show it: text, lists, reply
buttons, products, product lists, link buttons and templates.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, abort, redirect, render_template, request, session, url_for
from sqlalchemy import select

from connector.api.scope import current
from connector.dashboard.sandboxes import Control, ControlError, graph_control
from connector.dashboard.security import login_required
from connector.db.models import ChannelConnection, Contact, InboundMessage
from connector.web.context import runtime

if TYPE_CHECKING:
    from connector.runtime import Runtime

SIMULATED_CHANNELS = ("whatsapp", "instagram", "messenger")
DEFAULT_CUSTOMER = {"whatsapp": "4915112345678", "instagram": "7001000000001", "messenger": "7002000000001"}


def simulator_channels(rt: Runtime) -> list[ChannelConnection]:
    """Channel connections the simulator can play: Meta channels whose Graph URL is a sandbox."""
    return [
        c
        for c in rt.connections.channels(workspace_id=current().workspace_id)
        if c.channel in SIMULATED_CHANNELS and graph_control(rt, c.id) is not None
    ]


def customer_text(channel: ChannelConnection, control: Control, customer: str, text: str) -> None:
    """The customer writes ``text``."""
    if channel.channel == "whatsapp":
        control.call("POST", "whatsapp/messages", json={"wa_id": customer, "type": "text", "text": text, "name": "You"})
    else:
        control.call("POST", "messenger/messages", json={"object": _object(channel), "sender": customer, "text": text})


def customer_choice(channel: ChannelConnection, control: Control, customer: str, kind: str, value: str) -> None:
    """The customer taps a list row, a reply button or a quick reply they were offered."""
    if channel.channel == "whatsapp":
        payload = {"wa_id": customer, "type": "list_reply", "row_id": value}
        if kind == "button":
            payload = {"wa_id": customer, "type": "button", "button": value}
        control.call("POST", "whatsapp/messages", json=payload)
    else:
        control.call(
            "POST", "messenger/messages", json={"object": _object(channel), "sender": customer, "payload": value}
        )


def customer_cart(control: Control, customer: str, cart: dict[str, int], catalog_id: str | None) -> None:
    """The customer sends their cart (a WhatsApp ``order`` message, priced from the catalog)."""
    items = [{"product_retailer_id": rid, "quantity": qty} for rid, qty in cart.items()]
    control.call(
        "POST",
        "whatsapp/messages",
        json={"wa_id": customer, "type": "order", "product_items": items, "catalog_id": catalog_id},
    )


def _object(channel: ChannelConnection) -> str:
    return "instagram" if channel.channel == "instagram" else "page"


def transcript(rt: Runtime, channel: ChannelConnection, control: Control, customer: str) -> list[dict[str, Any]]:
    """The conversation in order: what the customer sent (as the connector stored it) and what the sandbox accepted."""
    entries: list[dict[str, Any]] = []
    for body in control.call("GET", f"messages?to={customer}")["messages"]:
        entries.append({"side": "business", "at": sent_at(body["_sandbox"]), "body": body})
    with rt.db.session() as session:
        contact_id = session.scalar(
            select(Contact.id).where(Contact.channel_connection_id == channel.id, Contact.channel_user_id == customer)
        )
        rows = (
            list(session.scalars(select(InboundMessage).where(InboundMessage.contact_id == contact_id)))
            if contact_id
            else []
        )
    # The channel's timestamp of a WhatsApp message is whole seconds; the sandbox knows when it sent each one to the
    # microsecond, on the same clock as the replies' ``sent_at``.
    exact = (
        {m["id"]: float(m["timestamp"]) for m in control.call("GET", f"whatsapp/inbound?wa_id={customer}")["messages"]}
        if channel.channel == "whatsapp"
        else {}
    )
    for row in rows:
        at = exact.get(row.message_id, row.received_at.timestamp())
        entries.append({"side": "customer", "at": at, "body": row.data, "type": row.type})
    # A reply is sent after the message that caused it arrived; at equal times (the channel's timestamps are whole
    # seconds) the customer's message comes first.
    entries.sort(key=lambda e: (e["at"], e["side"] != "customer"))
    return entries


def sent_at(record: dict[str, Any]) -> float:
    """When the sandbox accepted a business message, in seconds: its exact ``sent_at`` when it has one, else the
    webhook-style ``timestamp`` (seconds on WhatsApp, milliseconds on Messenger and Instagram)."""
    if isinstance(record.get("sent_at"), int | float):
        return float(record["sent_at"])
    stamp = float(record.get("timestamp") or 0)
    return stamp / 1000 if stamp > 1e11 else stamp


def sold_out(item: dict[str, Any] | None) -> bool:
    """Whether a catalog item cannot go into a cart (anything but "in stock", as WhatsApp's cart sees it)."""
    return bool(item) and (item or {}).get("availability", "in stock") != "in stock"


def customer_from_product(
    channel: ChannelConnection, control: Control, customer: str, text: str, product_id: str
) -> None:
    """The customer writes ``text`` from a product: WhatsApp's "Message business" on a catalog item
    (``referred_product``), an Instagram Shop product (``referral.product``)."""
    if channel.channel == "whatsapp":
        control.call(
            "POST",
            "whatsapp/messages",
            json={
                "wa_id": customer,
                "type": "text",
                "text": text,
                "name": "You",
                "referred_product": {"product_retailer_id": product_id},
            },
        )
    elif channel.channel == "instagram":
        control.call(
            "POST",
            "messenger/messages",
            json={"object": "instagram", "sender": customer, "text": text, "referral": {"product": {"id": product_id}}},
        )
    else:
        raise ControlError("writing from a product exists on WhatsApp and Instagram only")


def catalog_lookup(rt: Runtime, channel: ChannelConnection, control: Control) -> dict[str, dict[str, Any]]:
    """Catalog items by retailer id (title, price, image) to show products the way the apps do."""
    catalog_id = rt.connections.settings_of(channel).get("catalog_id")
    if not catalog_id:
        return {}
    try:
        items = control.call("GET", f"catalogs/{catalog_id}/items")["items"]
    except ControlError:
        return {}
    return {str(item.get("retailer_id") or item.get("id")): item for item in items}


def register(bp: Blueprint) -> None:
    """Add the chat simulator to the dashboard blueprint."""

    def selected() -> tuple[Runtime, ChannelConnection | None, Control | None, str]:
        rt = runtime()
        if not rt.config.server.demo:
            abort(404, description="the chat simulator is only available in demo mode")
        channels = simulator_channels(rt)
        wanted = request.values.get("channel", type=int)
        channel = next((c for c in channels if c.id == wanted), channels[0] if channels else None)
        if channel is None:
            return rt, None, None, ""
        customer = "".join(ch for ch in request.values.get("customer", "") if ch.isdigit()) or DEFAULT_CUSTOMER.get(
            channel.channel, "4915112345678"
        )
        return rt, channel, graph_control(rt, channel.id), customer

    @bp.get("/simulator")
    @login_required
    def simulator() -> Any:
        """The phone page."""
        rt, channel, control, customer = selected()
        products: dict[str, dict[str, Any]] = {}
        if channel is not None and control is not None:
            try:
                products = catalog_lookup(rt, channel, control)
            except ControlError:
                products = {}
        return render_template(
            "dashboard/simulator.html",
            channels=simulator_channels(rt),
            channel=channel,
            customer=customer,
            cart=session.get("sim_cart", {}),
            products=products,
            error=session.pop("sim_error", None),
        )

    @bp.get("/simulator/transcript")
    @login_required
    def simulator_transcript() -> Any:
        """The conversation so far (polled by htmx)."""
        rt, channel, control, customer = selected()
        if channel is None or control is None:
            abort(404, description="no sandbox channel to simulate")
        try:
            entries = transcript(rt, channel, control, customer)
        except ControlError as exc:
            return render_template("dashboard/_sim_error.html", error=str(exc))
        signature = f"{len(entries)}:{entries[-1]['at'] if entries else 0}"
        if request.args.get("sig") == signature:
            return Response(status=204)  # nothing new: htmx keeps the page as it is (an open list stays open)
        try:
            products = catalog_lookup(rt, channel, control)
        except ControlError as exc:
            return render_template("dashboard/_sim_error.html", error=str(exc))
        return render_template(
            "dashboard/_sim_transcript.html",
            signature=signature,
            entries=entries,
            products=products,
            channel=channel,
            customer=customer,
            cart=session.get("sim_cart", {}),
        )

    @bp.post("/simulator/send")
    @login_required
    def simulator_send() -> Any:
        """Act as the customer: write (also from a product), tap a choice, change the cart, or send it."""
        rt, channel, control, customer = selected()
        if channel is None or control is None:
            abort(404, description="no sandbox channel to simulate")
        action = request.form.get("action", "text")
        cart: dict[str, int] = dict(session.get("sim_cart", {}))
        try:
            if action == "text":
                text = request.form.get("text", "").strip()
                if not text:
                    abort(400, description="type a message first")
                customer_text(channel, control, customer, text)
            elif action in ("row", "button", "choice"):
                customer_choice(channel, control, customer, action, request.form.get("value", ""))
            elif action in ("add", "less", "remove"):
                product = request.form.get("value", "")
                if not product:
                    abort(400, description="which product?")
                if action == "add":
                    if sold_out(catalog_lookup(rt, channel, control).get(product)):
                        abort(400, description="this product is sold out: ask to be notified instead")
                    cart[product] = cart.get(product, 0) + 1
                elif action == "less" and cart.get(product, 0) > 1:
                    cart[product] -= 1
                else:
                    cart.pop(product, None)
            elif action == "from_product":
                product = request.form.get("value", "")
                text = request.form.get("text", "").strip() or "Hi, I have a question about this product"
                if not product:
                    abort(400, description="which product?")
                customer_from_product(channel, control, customer, text, product)
            elif action == "cart":
                if not cart:
                    abort(400, description="the cart is empty: add a product first")
                customer_cart(control, customer, cart, rt.connections.settings_of(channel).get("catalog_id") or None)
                cart = {}
            else:
                abort(
                    400, description="action must be text, row, button, choice, add, less, remove, cart or from_product"
                )
        except ControlError as exc:
            session["sim_error"] = str(exc)
        session["sim_cart"] = cart
        return redirect(url_for("dashboard.simulator", channel=channel.id, customer=customer))
