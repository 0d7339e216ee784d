"""The conversation engine: one inbound message in, replies out, state saved, all once.

``conversation.handle`` (a task carrying the inbound message row id) does, in order:

1. skip messages the notify subsystem answers (STOP/START) and contacts a person has taken over (a handoff's
   silence, or the inbox's takeover until the person hands back);
2. take the contact's lease (a second message of the same contact waits, so answers keep their order), with the
   message read, in the transaction that claims the task (:func:`start`; by itself when claimed otherwise);
3. work out the answer (:func:`dispatch`), calling the shop where needed, outside any transaction;
4. in ONE transaction: save the state, mark the message answered, queue the replies in the outbox
   (idempotency keys ``chat:<inbound id>:<n>``) and record a handoff if there was one.

A re-run after a crash finds the message marked answered (or its replies queued) and does nothing;
order creation inside step 3 is idempotent on its own (:mod:`connector.conversation.checkout`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, select

from connector import model
from connector.conversation import address, catalog, checkout, forms, handoff, orders, outbox, receipts, state
from connector.conversation.intents import ChatContext, plugin_intents
from connector.conversation.replies import fit, menu, plan
from connector.conversation.understand import Understood, understand
from connector.db.models import ChannelConnection, Contact, InboundMessage
from connector.db.models_conversation import ChatReply
from connector.db.models_inbox import InboxConversation
from connector.i18n import languages
from connector.serialization import from_json
from connector.work import priorities
from connector.work.queue import NOT_PREPARED, Retry

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from connector.runtime import Runtime
    from connector.work.registry import TaskContext

log = logging.getLogger(__name__)

#: Greetings that show the menu without telling a language (every language's own greeting does too).
MENU_WORDS = frozenset({"hi", "hey"})
CANCEL = frozenset({"cancel", "abbrechen", "abbruch", "back", "zurück"})
ORDERS_WORDS = frozenset({"orders", "my orders", "bestellungen", "meine bestellungen", "bestellung", "order status"})


def language_of(locale: str | None) -> str | None:
    """The shipped language of a locale such as ``de_DE``, ``pt-BR`` or ``en-GB``; ``None`` for anything else."""
    return languages.from_locale(locale)


def _normal(text: str) -> str:
    return " ".join(text.strip().casefold().strip("!?.,").split())


#: The message, its contact and channel, and whether it was answered already: one statement, built once, of plain
#: columns (no ORM objects to load).
_MESSAGE = (
    select(
        InboundMessage.data,
        Contact.id.label("contact_id"),
        Contact.channel_user_id,
        Contact.phone,
        Contact.name,
        Contact.locale,
        ChannelConnection.id.label("channel_id"),
        ChannelConnection.channel,
        ChannelConnection.shop_connection_id,
        select(ChatReply.id).where(ChatReply.inbound_message_id == InboundMessage.id).exists().label("answered"),
        # A person took the conversation over in the inbox: the bot stays silent until they hand it back.
        select(InboxConversation.contact_id)
        .where(InboxConversation.contact_id == Contact.id, InboxConversation.taken_over_at.is_not(None))
        .exists()
        .label("taken_over"),
    )
    .join(Contact, Contact.id == InboundMessage.contact_id)
    .join(ChannelConnection, ChannelConnection.id == InboundMessage.channel_connection_id)
    .where(InboundMessage.id == bindparam("inbound_id"))
)


def queue_answer(rt: Runtime, session: Session, inbound_id: int) -> bool:
    """Queue ``conversation.handle`` for the stored message ``inbound_id`` in ``session``'s transaction (once per
    message: an idempotency key); False when chat is off (nothing queued)."""
    if not rt.config.chat.enabled:
        return False
    rt.queue.enqueue(
        "conversation.handle",
        {"inbound_id": inbound_id},
        session=session,
        priority=priorities.CHAT,
        idempotency_key=f"conversation.handle:{inbound_id}",
    )
    return True


def handle_task(ctx: TaskContext, inbound_id: int) -> None:
    """Task ``conversation.handle``: answer the inbound message ``inbound_id`` (idempotent)."""
    handle(ctx.runtime, inbound_id, ctx.task.prepared)


@dataclass(frozen=True, slots=True)
class Start:
    """What answering a message starts from: the message with its contact and channel (``_MESSAGE``), its content,
    and the conversation with the contact's lease taken (``None``: another message of the contact holds it)."""

    found: Any
    message: model.Inbound
    conversation: state.Conversation | None


def start(rt: Runtime, session: Session, inbound_id: int) -> Start | None:
    """Read the message, its contact and channel, take the contact's lease and load the state, in ``session``'s
    transaction; ``None`` when there is nothing to answer. The worker does it in the transaction that claims the
    ``conversation.handle`` task (see :meth:`connector.work.queue.TaskQueue.at_claim`)."""
    settings = rt.config.chat
    if not settings.enabled:
        return None
    found = session.execute(_MESSAGE, {"inbound_id": inbound_id}).first()
    if found is None or found.answered:
        return None
    message = from_json(found.data)
    if _is_consent_message(message):
        return None  # STOP / START or a "Stop alerts" tap: the notify subsystem answers
    if isinstance(message, model.DeliveryStatus | model.InboundEdit | model.InboundUnsend | model.InboundNumberChange):
        # No new words to answer, and for edits, unsends and id updates no message of that id to mark read:
        # storing them did what they ask (marked the message, moved the contact).
        return None
    return Start(found, message, state.acquire_and_load(session, found.contact_id, settings.contact_lock_seconds))


def handle(rt: Runtime, inbound_id: int, prepared: Any = NOT_PREPARED) -> None:
    """Answer the stored inbound message ``inbound_id`` once (see the module docstring). ``prepared``: what
    :func:`start` returned in the transaction that claimed the task, if it ran there."""
    settings = rt.config.chat
    if not settings.enabled:
        return
    begun: Start | None
    if prepared is NOT_PREPARED:
        # One transaction reads the message, its contact and channel, takes the contact's lease and loads the
        # state: on SQLite every transaction queues for the one write lock, so each one saved is latency for all.
        with rt.db.session() as session:
            begun = start(rt, session, inbound_id)
    else:
        begun = prepared
    if begun is None:
        return
    found, message, conversation = begun.found, begun.message, begun.conversation
    if conversation is None:
        raise Retry(0.2, f"contact {found.contact_id} is busy with another message")
    saved = False
    receipt: receipts.Receipt | None = None
    try:
        if conversation.handled(inbound_id):
            return
        if conversation.silent() or found.taken_over:
            conversation.mark_handled(inbound_id)
            with rt.db.session() as session:
                state.save(session, conversation, inbound_id, release=True)
            saved = True
            return
        contact = model.Contact(
            channel=found.channel,
            channel_user_id=found.channel_user_id,
            phone=found.phone,
            name=found.name or "",
            locale=found.locale,
        )
        language = language_of(found.locale) or conversation.language or settings.default_language
        ctx = ChatContext(
            runtime=rt,
            channel_connection_id=found.channel_id,
            shop_connection_id=found.shop_connection_id,
            channel=found.channel,
            contact_id=found.contact_id,
            contact=contact,
            inbound_id=inbound_id,
            message=message,
            language=language,
            conversation=conversation,
        )
        adapter = rt.connections.channel_adapter(found.channel_id)
        receipt = receipts.start(adapter, message.message_id, settings)
        _detect_language(ctx)
        was_silent = conversation.silent()
        replies = dispatch(ctx)
        fitted = [part for reply in plan(adapter, replies) for part in fit(adapter, reply)]
        conversation.mark_handled(inbound_id)
        # ONE transaction: what the answer recorded (an order's outcome, an opt-in), the state with the lease given
        # back, the replies with the first one queued, and a handoff.
        with rt.db.session() as session:
            for write in ctx.writes:
                write(session)
            state.save(session, conversation, inbound_id, release=True)
            first = outbox.store(
                rt,
                session,
                inbound_id=inbound_id,
                channel_connection_id=found.channel_id,
                contact_id=found.contact_id,
                recipient=found.channel_user_id,
                replies=fitted,
            )
            if conversation.silent() and not was_silent:
                handoff.record(rt, session, ctx, conversation.data.get("handoff_reason", "asked"))
        saved = True
        if first is not None and len(fitted) == 1:
            outbox.remember_last(rt, first)
        if receipt is not None:
            receipt.finish()
            receipt = None
        rt.queue.notify()
    finally:
        if receipt is not None:
            receipt.finish()
        if not saved:
            state.release(rt, found.contact_id)


def _is_consent_message(message: model.Inbound) -> bool:
    """A STOP/START keyword, a tap on a back-in-stock alert's "Stop alerts" button (whose id would otherwise
    read as a ``notify:<variant>`` subscription), or a double opt-in confirmation."""
    try:
        from connector.notify.keywords import answered_here
    except ImportError:  # the notify subsystem is not installed: nobody else answers STOP
        return False
    return answered_here(message)


def _detect_language(ctx: ChatContext) -> None:
    """When the channel tells no locale we speak: the first message's language (when it is clear) sets the
    conversation's language, and a later greeting in another language switches it (see
    :mod:`connector.i18n.languages`). Otherwise the shop's ``[chat] default_language`` stays."""
    if language_of(ctx.contact.locale) or not isinstance(ctx.message, model.InboundText):
        return
    text = ctx.message.text
    found = languages.guess(text) if ctx.conversation.language is None else languages.greeting(text)
    if found:
        ctx.language = ctx.conversation.language = found


# --------------------------------------------------------------------------- dispatch


def dispatch(ctx: ChatContext) -> list[model.Outbound]:
    """The answer to ``ctx.message``: carts become orders, taps run their action, a message written from a product
    gets that product, texts continue a flow or trigger an intent, anything else gets the menu."""
    message = ctx.message
    if (
        isinstance(message, model.InboundOther)
        and message.type == "referral"
        and message.message_id.endswith("#referral")
    ):
        # Stored before messages carried their referral: the WhatsApp message it came with got the answer.
        return []
    if isinstance(message, model.InboundFlowReply):
        # A completed form: applied when it is the one the conversation waits for (its answers also reach plugins
        # as structured data through connector_inbound_message); no menu in reply to any other.
        return forms.answer(ctx, message)
    if isinstance(message, model.InboundEdit | model.InboundUnsend | model.InboundNumberChange):
        # Changes to what was said (stored and marked), an identity change (the contact moved): no menu in reply.
        return []
    product_id = message.referral.product_retailer_id if message.referral is not None else ""
    # A cart or a tap says what to do already; asking for a person wins over the product.
    wants_person = isinstance(message, model.InboundText) and handoff.asks_for_person(message.text)
    if product_id and not wants_person and not isinstance(message, model.InboundCart | model.InboundReply):
        return _asked_about(ctx, product_id)
    if isinstance(message, model.InboundCart):
        ctx.conversation.clear()
        return checkout.handle_cart(ctx, list(message.lines))
    if isinstance(message, model.InboundReply):
        return _reply(ctx, message.reply_id)
    if isinstance(message, model.InboundText):
        return _text(ctx, message.text)
    if isinstance(message, model.InboundMedia) and message.caption.strip():
        # What the customer wrote under a photo is read like any text ("do you have this in red?").
        return _text(ctx, message.caption)
    return menu(ctx)


def _asked_about(ctx: ChatContext, product_id: str) -> list[model.Outbound]:
    """A message written from a product ("Message business" on WhatsApp, an Instagram Shop product, a product ad):
    that product with "Buy" or "notify me"; a product the shop no longer lists gets a clear text and the menu."""
    ctx.conversation.clear()
    found = catalog.offer(ctx, product_id)
    if found is None:
        return menu(ctx, intro=ctx.t("product_unknown"))
    return catalog.product(ctx, found)


def _intent(ctx: ChatContext, intent_id: str) -> list[model.Outbound]:
    conv = ctx.conversation
    minutes = ctx.runtime.config.chat.flow_timeout_minutes
    if intent_id == "browse":
        conv.clear()
        return catalog.browse(ctx)
    if intent_id == "search":
        conv.start("search", "query", minutes)
        return [model.TextMessage(ctx.t("search_prompt"))]
    if intent_id == "orders":
        conv.clear()
        return orders.my_orders(ctx)
    if intent_id == "address":
        conv.clear()
        return orders.choose_for_address(ctx)
    if intent_id == "back_in_stock":
        conv.start("back_in_stock", "query", minutes)
        return [model.TextMessage(ctx.t("back_in_stock_prompt"))]
    if intent_id == "agent":
        return handoff.start(ctx, "asked")
    for intent in plugin_intents(ctx.runtime):
        if intent.id == intent_id:
            conv.clear()
            return list(intent.handler(ctx))
    return menu(ctx)


def _reply(ctx: ChatContext, reply_id: str) -> list[model.Outbound]:
    kind, _, rest = reply_id.partition(":")
    if kind == "menu":
        return _intent(ctx, rest)
    if kind == "cols":
        return catalog.browse(ctx, page=int(rest or 0))
    if kind == "col":
        page, _, name = rest.partition(":")
        return catalog.products(ctx, name, catalog.offers(ctx, collection=name), page=int(page), more_id=f"colp:{name}")
    if kind == "colp":  # the next page of a collection: colp:<name>:<page>
        name, _, page = rest.rpartition(":")
        return catalog.products(ctx, name, catalog.offers(ctx, collection=name), page=int(page), more_id=f"colp:{name}")
    if kind == "all":
        return catalog.products(ctx, ctx.t("all_products"), catalog.offers(ctx), page=int(rest or 0), more_id="all")
    if kind == "find":  # the next page of search results: find:<query>:<page>
        query, _, page = rest.rpartition(":")
        return _search(ctx, query, page=int(page))
    if kind in ("add", "BUY"):
        return checkout.add_to_cart(ctx, rest)
    if kind == "notify":
        return _subscribe(ctx, rest)
    if kind == "cart":
        action, _, source = rest.partition(":")
        if action == "confirm" and source.isdigit():
            return checkout.confirm(ctx, int(source))
        if action == "checkout":
            return checkout.checkout(ctx)
        ctx.conversation.clear()
        return [model.TextMessage(ctx.t("cart_change_body")), *catalog.browse(ctx)]
    if kind == "addr":
        return address.confirmed(ctx, rest == "yes")
    if kind == "addr_order":
        return orders.picked_for_address(ctx, rest)
    return menu(ctx)


def _text(ctx: ChatContext, raw: str) -> list[model.Outbound]:
    conv = ctx.conversation
    text = _normal(raw)
    if handoff.asks_for_person(raw):
        return handoff.start(ctx, "keyword")
    flow = conv.in_flow()
    if flow and text in CANCEL:
        conv.clear()
        return menu(ctx, intro=ctx.t("cancelled"))
    if languages.greeting(raw) or text in MENU_WORDS:
        conv.clear()
        return menu(ctx)
    if flow == "address":
        return address.answer(ctx, raw)
    if flow == "lookup":
        found = orders.ORDER_NUMBER.match(raw.strip())
        if conv.step == "proof":
            return orders.proof(ctx, raw)
        if found:
            return orders.lookup(ctx, found.group(1), then=conv.data.get("then"))
    if flow == "search":
        conv.clear()
        return _search(ctx, raw.strip(), page=0)
    if flow == "back_in_stock":
        conv.clear()
        return _back_in_stock(ctx, raw.strip())
    for intent in plugin_intents(ctx.runtime):
        if intent.matches(raw):
            conv.clear()
            return list(intent.handler(ctx))
    understood = understand(raw)
    if understood is not None:
        return _understood(ctx, understood)
    if text in ORDERS_WORDS:
        conv.clear()
        return orders.my_orders(ctx)
    number = orders.ORDER_NUMBER.match(raw.strip())
    if number:
        return orders.lookup(ctx, number.group(1))
    conv.clear()
    offers = catalog.offers(ctx, query=raw.strip()) if len(text) >= 3 else []
    if offers:
        return catalog.products(
            ctx, ctx.t("search_title", query=raw.strip()), offers, page=0, more_id=f"find:{raw.strip()[:60]}"
        )
    return menu(ctx, intro=ctx.t("menu_not_understood", text=raw.strip()[:60]))


def _understood(ctx: ChatContext, understood: Understood) -> list[model.Outbound]:
    """Do what the customer's words asked for (one answer instead of "not understood" plus the menu)."""
    conv = ctx.conversation
    conv.clear()
    if understood.intent == "agent":
        return handoff.start(ctx, "keyword")
    if understood.intent == "back_in_stock":
        return _back_in_stock(ctx, understood.query)
    if understood.intent == "search":
        return _search(ctx, understood.query, page=0)
    return _intent(ctx, understood.intent)


def _search(ctx: ChatContext, query: str, page: int) -> list[model.Outbound]:
    found = catalog.offers(ctx, query=query)
    if not found:
        return menu(ctx, intro=ctx.t("search_none", query=query[:60]))
    return catalog.products(
        ctx, ctx.t("search_title", query=query[:60]), found, page=page, more_id=f"find:{query[:60]}"
    )


def _back_in_stock(ctx: ChatContext, query: str) -> list[model.Outbound]:
    found = catalog.offers(ctx, query=query)
    sold_out = [o for o in found if o.sold_out]
    if not found:
        return menu(ctx, intro=ctx.t("search_none", query=query[:60]))
    if not sold_out:
        return [
            model.TextMessage(ctx.t("back_in_stock_none_sold_out", query=query[:60])),
            *catalog.products(
                ctx, ctx.t("search_title", query=query[:60]), found, page=0, more_id=f"find:{query[:60]}"
            ),
        ]
    if len(sold_out) == 1:
        return _subscribe(ctx, sold_out[0].id)
    return catalog.products(
        ctx, ctx.t("search_title", query=query[:60]), sold_out, page=0, more_id=f"find:{query[:60]}"
    )


def _subscribe(ctx: ChatContext, variant_id: str) -> list[model.Outbound]:
    """The "notify me" button: a back-in-stock subscription through the notify subsystem."""
    variant = catalog.variant(ctx, variant_id)
    title = variant.title if variant is not None else variant_id
    try:
        from connector.notify import back_in_stock
    except ImportError:
        return [model.TextMessage(ctx.t("back_in_stock_unavailable"))]
    text = ctx.t("back_in_stock_subscribed", title=title)
    back_in_stock.subscribe(
        ctx.runtime,
        contact_id=ctx.contact_id,
        shop_connection_id=ctx.shop_connection_id,
        variant_external_id=variant_id,
        source=f"chat:{ctx.channel}:{ctx.inbound_id}",
        consent_text=text,
        on_channel=True,  # the customer's own tap in chat
    )
    ctx.conversation.clear()
    return [model.TextMessage(text)]
