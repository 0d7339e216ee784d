"""Buying in chat: check a cart against the shop, then create the order once, and answer with a payment link.

Idempotency, in layers:

* a channel redelivering the cart stores no second inbound message, so nothing runs twice;
* a re-run of the same message (worker crash) finds its :class:`ChatOrder` by ``(inbound message, cart)``;
* a double tap (the same cart sent again within ``[chat] duplicate_cart_minutes``) finds the first order;
* the claim row is committed *before* the shop is called, and the shop call is idempotent on
  ``cart.reference``, so a crash between the two never creates a second order.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, case, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from connector import model
from connector.conversation.catalog import is_sold_out
from connector.conversation.replies import agent_offer, short
from connector.db import insert_id
from connector.db.models_conversation import ChatOrder
from connector.errors import ConnectorError, PlatformError

if TYPE_CHECKING:
    from connector.conversation.intents import ChatContext

log = logging.getLogger(__name__)

_ORDERS = ChatOrder.__table__
_INSERT_CLAIM = insert(_ORDERS)


def cart_hash(lines: list[model.CartLine]) -> str:
    """Equal carts (same variants and quantities, any order), equal hash."""
    key = "|".join(sorted(f"{line.variant_external_id}x{line.quantity}" for line in lines))
    return hashlib.sha256(key.encode()).hexdigest()


def lines_to_json(lines: list[model.CartLine]) -> list[dict[str, Any]]:
    """Cart lines as JSON for the conversation state."""
    return [
        {
            "variant": line.variant_external_id,
            "quantity": line.quantity,
            "price": None if line.unit_price is None else [str(line.unit_price.amount), line.unit_price.currency],
        }
        for line in lines
    ]


def lines_from_json(data: list[dict[str, Any]]) -> list[model.CartLine]:
    """The inverse of :func:`lines_to_json`."""
    return [
        model.CartLine(
            d["variant"], int(d["quantity"]), model.Money(Decimal(d["price"][0]), d["price"][1]) if d["price"] else None
        )
        for d in data
    ]


# --------------------------------------------------------------------------- checking


def check(ctx: ChatContext, lines: list[model.CartLine]) -> tuple[list[model.CartLine], list[str], list[str]]:
    """Compare the cart with the shop now: the lines that can be ordered (quantities and prices as the shop has
    them), what changed (one sentence each), and the sold-out variant ids."""
    ids = [line.variant_external_id for line in lines]
    live = {v.external_id: v for v in ctx.shop().get_variants(ids)}
    checked: list[model.CartLine] = []
    issues: list[str] = []
    sold_out: list[str] = []
    for line in lines:
        variant = live.get(line.variant_external_id)
        if variant is None or not variant.published:
            issues.append(ctx.t("cart_issue_unknown", title=_known_title(ctx, line.variant_external_id)))
            continue
        if is_sold_out(variant):
            issues.append(ctx.t("cart_issue_sold_out", title=variant.title))
            sold_out.append(variant.external_id)
            continue
        quantity = line.quantity
        if variant.stock_quantity is not None and variant.stock_quantity < quantity:
            issues.append(
                ctx.t("cart_issue_stock", title=variant.title, available=variant.stock_quantity, wanted=quantity)
            )
            quantity = variant.stock_quantity
        price = variant.effective_price
        if line.unit_price is not None and (
            line.unit_price.currency != price.currency or line.unit_price.amount != price.amount
        ):
            issues.append(
                ctx.t("cart_issue_price", title=variant.title, old=ctx.money(line.unit_price), new=ctx.money(price))
            )
        checked.append(model.CartLine(variant.external_id, quantity, price))
    return checked, issues, sold_out


def _known_title(ctx: ChatContext, variant_id: str) -> str:
    from connector.conversation.catalog import variant

    known = variant(ctx, variant_id)
    return known.title if known is not None else variant_id


def total(lines: list[model.CartLine]) -> model.Money | None:
    """The cart's total at the checked prices (None when no line has a price)."""
    priced = [line.unit_price * line.quantity for line in lines if line.unit_price is not None]
    if not priced:
        return None
    result = priced[0]
    for money in priced[1:]:
        result = result + money
    return result


# --------------------------------------------------------------------------- the flow


def handle_cart(ctx: ChatContext, lines: list[model.CartLine]) -> list[model.Outbound]:
    """A cart arrived (WhatsApp order message, or the chat cart's checkout): check it, then order or ask."""
    if not lines:
        return [model.TextMessage(ctx.t("cart_empty"))]
    checked, issues, sold_out = check(ctx, lines)
    if not issues:
        from connector.conversation import forms

        return forms.ask_checkout(ctx, checked, ctx.money(total(checked))) or place(
            ctx, checked, source_inbound_id=ctx.inbound_id
        )
    text = "\n".join(f"• {issue}" for issue in issues)
    if not checked:
        ctx.conversation.clear()
        messages: list[model.Outbound] = [model.TextMessage(ctx.t("cart_nothing_left", issues=text))]
    else:
        ctx.conversation.start(
            "cart_confirm",
            None,
            ctx.runtime.config.chat.flow_timeout_minutes,
            lines=lines_to_json(checked),
            source=ctx.inbound_id,
        )
        buttons = [
            model.Button(f"cart:confirm:{ctx.inbound_id}", short(ctx.t("cart_confirm"))),
            model.Button("cart:change", short(ctx.t("cart_change"))),
        ]
        body = ctx.t("cart_changed_body", issues=text, total=ctx.money(total(checked)))
        messages = [model.ButtonsMessage(body=body, buttons=buttons)]
    if sold_out:
        titles = ", ".join(_known_title(ctx, v) for v in sold_out)
        button = model.Button(f"notify:{sold_out[0]}", short(ctx.t("notify_button")))
        messages.append(model.ButtonsMessage(body=ctx.t("sold_out_body", titles=titles), buttons=[button]))
    return messages


def confirm(ctx: ChatContext, source_inbound_id: int) -> list[model.Outbound]:
    """The customer confirmed a changed cart (or tapped "Place order" again: the first order is shown again)."""
    existing = _order_from(ctx, source_inbound_id)
    if existing is not None and existing.status == "created":
        return _summary_from_row(ctx, existing)
    conv = ctx.conversation
    if conv.in_flow() == "cart_confirm" and conv.data.get("source") == source_inbound_id:
        lines = lines_from_json(conv.data["lines"])
        conv.clear()
        return place(ctx, lines, source_inbound_id=source_inbound_id)
    return [model.TextMessage(ctx.t("cart_expired"))]


def _order_from(ctx: ChatContext, source_inbound_id: int) -> ChatOrder | None:
    with ctx.runtime.db.session() as session:
        return session.scalar(
            select(ChatOrder)
            .where(ChatOrder.contact_id == ctx.contact_id, ChatOrder.inbound_message_id == source_inbound_id)
            .order_by(ChatOrder.id.desc())
        )


#: This message's claim for a cart.
_MINE = (ChatOrder.inbound_message_id == bindparam("b_inbound")) & (ChatOrder.cart_hash == bindparam("b_hash"))
_SAME_MESSAGE = select(ChatOrder).where(_MINE)
#: This message's claim first, else the newest recent claim of the same cart by the contact (a double tap): one
#: statement, built once.
_EARLIER_OR_DOUBLE_TAP = (
    select(ChatOrder)
    .where(
        _MINE
        | (
            (ChatOrder.contact_id == bindparam("b_contact"))
            & (ChatOrder.cart_hash == bindparam("b_hash"))
            & ChatOrder.status.in_(("creating", "created"))
            & (ChatOrder.created_at >= bindparam("b_since", type_=ChatOrder.__table__.c.created_at.type))
        )
    )
    .order_by(case((_MINE, 0), else_=1), ChatOrder.id.desc())
    .limit(1)
)


def _claim(ctx: ChatContext, lines: list[model.CartLine], source_inbound_id: int) -> ChatOrder:
    """The order row for this cart: the one of a re-run or double tap, or a new ``creating`` claim (committed
    before the shop is called, in one transaction with the look for an earlier one)."""
    digest = cart_hash(lines)
    window = timedelta(minutes=ctx.runtime.config.chat.duplicate_cart_minutes)
    params = {"b_inbound": source_inbound_id, "b_hash": digest}
    if window:
        earlier = _EARLIER_OR_DOUBLE_TAP
        params.update(b_contact=ctx.contact_id, b_since=datetime.now(UTC) - window)
    else:
        earlier = _SAME_MESSAGE
    with ctx.runtime.db.session() as session:
        row = session.scalars(earlier, params).first()
        if row is not None:
            return row
        values: dict[str, Any] = {
            "contact_id": ctx.contact_id,
            "channel_connection_id": ctx.channel_connection_id,
            "shop_connection_id": ctx.shop_connection_id,
            "inbound_message_id": source_inbound_id,
            "cart_hash": digest,
            "reference": f"chat-{ctx.channel_connection_id}-{source_inbound_id}-{digest[:10]}",
            "cart": {"lines": lines_to_json(lines)},
            "status": "creating",
        }
        try:
            with session.begin_nested():
                # A plain INSERT: the row is only read from here on (the answer's transaction updates it by id).
                claim_id = insert_id(session, _INSERT_CLAIM, values)
        except IntegrityError:  # claimed by a concurrent run of the same message
            return session.scalars(_SAME_MESSAGE, params).one()
        return ChatOrder(id=claim_id, **values)


def place(
    ctx: ChatContext,
    lines: list[model.CartLine],
    *,
    source_inbound_id: int,
    note: str = "",
    details: dict[str, Any] | None = None,
) -> list[model.Outbound]:
    """Create the shop order for checked ``lines`` (once), record the order-updates opt-in, answer with the summary.
    ``note`` goes to the shop with the order; ``details`` (a checkout form's answers and proof) are kept with it."""
    row = _claim(ctx, lines, source_inbound_id)
    if row.status == "created":
        return _summary_from_row(ctx, row)
    conv = ctx.conversation
    address = model.Address(**conv.address) if conv.address else None
    name = (ctx.contact.name or "").split(" ", 1)
    customer = model.Customer(
        phone=ctx.contact.phone,
        first_name=name[0],
        last_name=name[1] if len(name) > 1 else "",
        locale=ctx.language,
    )
    cart = model.Cart(lines=lines_from_json(row.cart["lines"]), reference=row.reference, note=note)
    try:
        order = ctx.shop().create_order(cart, customer, address)
    except PlatformError as exc:
        if exc.retryable:
            raise  # the task runs again; the claim row makes the retry reuse the same reference
        return _failed(ctx, row, str(exc))
    except ConnectorError as exc:
        if address is None:
            # The shop needs a delivery address first (Shopware): collect it (one form where the channel has
            # them, else the dialogue), then place this same claim.
            from connector.conversation import address as address_flow
            from connector.conversation import forms

            lines_json = row.cart["lines"]
            form = forms.ask_checkout_address(ctx, lines=lines_json, source=source_inbound_id)
            return form or [
                model.TextMessage(ctx.t("order_needs_address")),
                *address_flow.start(ctx, purpose="checkout", source=source_inbound_id, lines=lines_json),
            ]
        return _failed(ctx, row, str(exc))
    summary = _summary_data(ctx, order)
    opt_in_text = ctx.t("order_summary", **{**summary, "number": order.number})

    def record(session: Session) -> None:
        # Joins the transaction that stores the answer: a crash before it leaves the claim ``creating``, and the
        # re-run finds the shop's order by ``cart.reference`` instead of creating another. The claim is ours
        # (the contact's lease), so its cart is the one read at the claim.
        session.execute(
            update(_ORDERS)
            .where(_ORDERS.c.id == row.id)
            .values(
                status="created",
                order_external_id=order.external_id,
                order_number=order.number,
                payment_url=order.payment_url,
                cart={**row.cart, "summary": summary, **({"checkout": details} if details else {})},
                error=None,
            )
        )
        _record_opt_in(ctx, session, order, row.reference, opt_in_text)

    ctx.on_save(record)
    conv.data.pop("cart", None)  # the chat cart became an order
    return _summary_messages(ctx, summary, order.payment_url)


def _record_opt_in(ctx: ChatContext, session: Session, order: model.Order, reference: str, text: str) -> None:
    from connector.notify import consent

    consent.record_opt_in(
        ctx.runtime,
        contact_id=ctx.contact_id,
        purpose="utility",
        source=f"chat_order:{ctx.channel}:{order.number}:{reference}",
        text=text,
        session=session,
        on_channel=True,  # the customer's purchase in chat
    )


def _failed(ctx: ChatContext, row: ChatOrder, reason: str) -> list[model.Outbound]:
    log.warning("chat order %s failed: %s", row.reference, reason)
    with ctx.runtime.db.session() as session:
        stored = session.get(ChatOrder, row.id)
        if stored is not None:
            stored.status, stored.error = "failed", reason[:2000]
    return [agent_offer(ctx, ctx.t("order_failed", reason=reason[:200]))]


def _summary_data(ctx: ChatContext, order: model.Order) -> dict[str, Any]:
    """The order summary's values, money already written in the customer's language (stored for a re-run)."""
    return {
        "number": order.number,
        "total": ctx.money(order.total),
        "lines": [
            {"quantity": line.quantity, "title": line.title, "total": ctx.money(line.unit_price * line.quantity)}
            for line in order.lines
        ],
    }


def _summary_from_row(ctx: ChatContext, row: ChatOrder) -> list[model.Outbound]:
    summary = (row.cart or {}).get("summary") or {"number": row.order_number, "total": "", "lines": []}
    return _summary_messages(ctx, summary, row.payment_url)


def _summary_messages(ctx: ChatContext, summary: dict[str, Any], payment_url: str | None) -> list[model.Outbound]:
    body = ctx.t("order_summary", **summary)
    if payment_url:
        return [model.LinkButtonMessage(body=body, display_text=short(ctx.t("order_pay_button")), url=payment_url)]
    return [model.TextMessage(f"{body}\n\n{ctx.t('order_no_link')}")]


# --------------------------------------------------------------------------- the chat cart (Messenger, Instagram)


def add_to_cart(ctx: ChatContext, variant_id: str) -> list[model.Outbound]:
    """Put one of ``variant_id`` in the contact's chat cart and offer checkout."""
    from connector.conversation.catalog import variant as find

    found = find(ctx, variant_id)
    if found is None:
        return [model.TextMessage(ctx.t("cart_issue_unknown", title=variant_id))]
    cart = ctx.conversation.data.setdefault("cart", [])
    price = found.effective_price
    for line in cart:
        if line["variant"] == variant_id:
            line["quantity"] += 1
            break
    else:
        cart.append({"variant": variant_id, "quantity": 1, "price": [str(price.amount), price.currency]})
    lines = lines_from_json(cart)
    count = sum(line.quantity for line in lines)
    body = ctx.t("added_to_cart", title=found.title, count=count, total=ctx.money(total(lines)))
    buttons = [
        model.Button("cart:checkout", short(ctx.t("cart_checkout"))),
        model.Button("menu:browse", short(ctx.t("cart_continue"))),
    ]
    return [model.ButtonsMessage(body=body, buttons=buttons)]


def checkout(ctx: ChatContext) -> list[model.Outbound]:
    """Order the chat cart."""
    return handle_cart(ctx, lines_from_json(ctx.conversation.data.get("cart") or []))
