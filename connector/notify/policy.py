"""What a notification becomes at send time: the rules of business messaging, applied in order.

1. **Consent**: no granted opt-in for the message's purpose -> ``skipped``.
2. **24-hour window**: inside it, a free-form interactive message rendered from the Jinja texts; outside it, the
   approved template configured for the kind and language; no template -> ``skipped`` (never a 131047).
   Channels without templates (Messenger, Instagram: no ``TemplateMessage`` in the adapter's ``supports``) say
   themselves what may go outside the window (``ChannelAdapter.notification_message``): on Messenger an order
   update as a utility message (an approved Page template, ``messaging_type: UTILITY``) to a customer in a market
   Meta offers them in; anything else -> ``skipped`` with the reason (promotional messages such as back-in-stock
   alerts have no utility form), never sent into a refusal. Never a message tag: Meta refuses
   ``POST_PURCHASE_UPDATE`` since 2026-04-27.
3. **Cost**: the estimate of the rate card in force today for the category and the recipient's country
   (WhatsApp's per-message pricing; free inside a free entry point; Messenger and Instagram messages cost nothing
   and their user ids are no phone numbers). A template Meta re-categorized (``template_category_update``) is
   priced by its new category from the change's effective time, and needs a marketing opt-in once it is marketing.
   Marketing messages keep the per-user frequency cap (:mod:`connector.notify.frequency`: skipped when
   reached); checkout reminders also the customer's quiet hours (:mod:`connector.notify.quiet_hours`: deferred)
   and are skipped once the checkout was paid or a newer order exists (:mod:`connector.notify.recovery`).
4. **Daily budget**: over it -> ``deferred`` to the next UTC day. Chat replies (:func:`price_reply`) are priced
   the same way and count toward the budget, but are never deferred: a customer who wrote gets the answer.
5. **Reach limit**: a new user outside the window beyond the tier -> ``deferred`` until a slot frees up
   (WhatsApp's messaging limit, shared by every number of the business portfolio; template channels only).

Signals the channel sent after earlier sends hold too (:mod:`connector.notify.signals`): a contact marked
unreachable is skipped with the reason, marketing to a contact paused after a 131049 is deferred, and marketing
templates to US (+1) numbers are skipped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from connector import model
from connector.db.models import Contact, OutboundMessage
from connector.notify import billing, frequency, pricing, product_cards, quiet_hours, recovery, signals
from connector.notify.consent import consent_in
from connector.notify.settings import KINDS

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from connector.adapters import ChannelAdapter
    from connector.notify.render import Renderer
    from connector.notify.settings import NotifySettings

#: Notification kinds that are updates about an order the customer placed (not promotional).
ORDER_UPDATES = frozenset(kind for kind in KINDS if kind.startswith("order_"))

#: Promotional kinds: they need the marketing opt-in and have no utility form on Messenger and Instagram.
PROMOTIONAL = frozenset({"back_in_stock", recovery.KIND})

#: Why a marketing template to a +1 number is not sent (platform-changes-2026.md §3.1).
US_MARKETING = "marketing templates to US (+1) numbers are not delivered by WhatsApp (131049): not sent"

#: The kind of campaign messages (:mod:`connector.campaigns`): always their campaign's approved template.
CAMPAIGN = "campaign"

#: How close to its end a window counts as closed already (the message must arrive while it is open).
WINDOW_MARGIN = timedelta(minutes=5)
WINDOW = timedelta(hours=24)


@dataclass(slots=True)
class Decision:
    """``send`` (with the message and its pricing), ``skip`` (with a reason) or ``defer`` (until, why)."""

    action: str
    message: model.Outbound | None = None
    reason: str | None = None
    until: datetime | None = None
    category: str | None = None
    country: str | None = None
    cost: float | None = None
    outside_window: bool | None = None


def category_of(settings: NotifySettings, kind: str) -> str:
    """The pricing category of a notification kind's template."""
    if kind == CAMPAIGN:
        return "marketing"
    if kind == "back_in_stock":
        return settings.back_in_stock_category
    return "marketing" if kind in PROMOTIONAL else "utility"


def window_open(contact: Contact, now: datetime) -> bool:
    """True while the customer's last message is less than 24 hours (minus a safety margin) old."""
    last = contact.last_inbound_at
    return last is not None and now - last < WINDOW - WINDOW_MARGIN


def template_parameters(
    kind: str, variables: dict[str, Any], *, currency: bool = False
) -> tuple[list[model.TemplateValue], list[str]]:
    """Body and URL-button parameters a kind's template gets (documented in docs/notifications.md).

    ``currency``: the template takes ``order_confirmed``'s total as a currency parameter (``currency_templates``)."""
    name = str(variables.get("name") or "").strip() or "there"
    number = str(variables.get("number") or "")
    if kind == "order_shipped":
        carrier = str(variables.get("carrier") or "our carrier")
        return [name, number, carrier], [str(variables.get("tracking_number") or number)]
    if kind == "order_confirmed":
        text = f"{variables.get('total', '')} {variables.get('currency', '')}".strip()
        money = _money(variables, fallback=text) if currency else None
        return [name, number, money or text], []
    if kind == "back_in_stock":
        return [str(variables.get("title") or "")], []
    if kind == recovery.KIND:
        total = f"{variables.get('total', '')} {variables.get('currency', '')}".strip()
        return [name, str(variables.get("items") or ""), total, str(variables.get("checkout_url") or "")], []
    if kind == CAMPAIGN:
        return [str(value) for value in variables.get("body") or []], []
    return [name, number], []


def _money(variables: dict[str, Any], *, fallback: str) -> model.CurrencyParameter | None:
    """The order total as a currency parameter; None when the total or its currency is missing or malformed."""
    code = str(variables.get("currency") or "").upper()
    try:
        amount = Decimal(str(variables.get("total")))
    except InvalidOperation:
        return None
    if len(code) != 3 or not amount.is_finite():
        return None
    return model.CurrencyParameter(fallback=fallback, code=code, amount_1000=int((amount * 1000).to_integral_value()))


def template_header(
    settings: NotifySettings, template: str, kind: str, variables: dict[str, Any]
) -> tuple[list[model.TemplateValue], str | None]:
    """The header parameters of ``template`` (``template_headers``), or why it cannot be sent (no image)."""
    if settings.template_headers.get(template) != "image":
        return [], None
    link = str(variables.get("image_url") or "")
    if not link.startswith(("http://", "https://")):
        title = variables.get("title")
        subject = f'"{title}"' if title else f"the {kind} notification"
        return [], f"template {template} needs an image header and {subject} has no image"
    return [model.ImageParameter(link=link)], None


def free_form(kind: str, blocks: dict[str, str], variables: dict[str, Any]) -> model.Outbound:
    """The interactive message for a kind inside the window."""
    body = blocks["body"]
    button = blocks.get("button", "")[:20]
    url = variables.get("tracking_url") or variables.get("checkout_url")
    if button and url and str(url).startswith(("http://", "https://")):
        return model.LinkButtonMessage(body=body, display_text=button, url=str(url))
    if kind == "back_in_stock" and button:
        return model.ButtonsMessage(body=body, buttons=[model.Button(id="notify:stop-alerts", title=button)])
    return model.TextMessage(body=body)


def decide(
    session: Session,
    settings: NotifySettings,
    renderer: Renderer,
    row: OutboundMessage,
    contact: Contact | None,
    channel: str,
    now: datetime,
    *,
    consents: Mapping[tuple[int, str], bool] | None = None,
    tally: pricing.Tally | None = None,
    entry_points: Mapping[int, datetime] | None = None,
) -> Decision:
    """Apply the rules to one notification row (inside the send task's transaction).

    ``consents``: the opt-ins ``(contact id, purpose) -> granted`` of every contact concerned, when the caller
    read them for a whole batch in the same transaction; otherwise they are read here. ``tally``: the batch's
    spend and reach so far (see :class:`~connector.notify.pricing.Tally`); a decision to send counts into it.
    ``entry_points``: the batch's contacts inside a free entry-point window (read here when not given)."""
    if contact is None:
        return Decision("skip", reason="the contact was deleted")
    if contact.phone_problem:
        # Never guessed: a number that cannot be read might be a stranger's.
        return Decision("skip", reason=f"unusable phone number: {contact.phone_problem}")
    purpose = row.purpose or "utility"
    granted = (
        consents.get((contact.id, purpose), False) if consents is not None else consent_in(session, contact.id, purpose)
    )
    if not granted:
        return Decision("skip", reason=f"no opt-in for {purpose} messages")
    verdict, why, until = signals.hold(settings, contact, purpose, now)
    if verdict == "skip":
        return Decision("skip", reason=why)
    if verdict == "defer":
        return Decision("defer", until=until, reason=why)
    spec = row.notification or {}
    if row.kind == recovery.KIND:
        checkout = (spec.get("vars") or {}).get("checkout_id")
        stale = recovery.still_due(session, int(checkout)) if isinstance(checkout, int) else None
        if stale:
            return Decision("skip", reason=stale)
        quiet = quiet_hours.quiet_until(settings, contact.phone or row.recipient, now)
        if quiet is not None:
            return Decision("defer", until=quiet, reason=quiet_hours.reason(settings, quiet, contact.phone))
    if purpose == "marketing":
        allowed, capped = frequency.allows(
            session,
            contact.id,
            now,
            settings,
            pending=tally.marketing if tally is not None else None,
            counted=tally.marketing_counts if tally is not None else None,
        )
        if not allowed:
            return Decision("skip", reason=capped)
    language = str(spec.get("language") or settings.default_language)
    variables = dict(spec.get("vars") or {})
    if row.kind == CAMPAIGN:
        quiet = quiet_hours.quiet_until(settings, contact.phone or row.recipient, now)
        if quiet is not None:
            return Decision("defer", until=quiet, reason=quiet_hours.reason(settings, quiet, contact.phone))
    # A campaign is its approved template, inside the window too (the owner chose what it says).
    inside = window_open(contact, now) and not spec.get("force_template") and row.kind != CAMPAIGN
    adapter = renderer.channels.get(channel)
    # Unknown adapters keep the WhatsApp rules (templates outside the window, priced by phone number).
    templates = adapter is None or model.TemplateMessage in adapter.supports
    if inside or not templates:
        message: model.Outbound | None = free_form(
            row.kind, renderer.render(row.kind, channel, language, variables), variables
        )
        utility, no_utility = (
            (None, None) if inside else utility_template(settings, adapter, row.kind, language, variables)
        )
        if adapter is not None and message is not None:
            # ``utility`` only for channels that declare utility messages: older plugins keep their signature.
            extra = {"utility": utility} if adapter.utility_messages else {}
            message = adapter.notification_message(
                message, inside_window=inside, order_update=row.kind in ORDER_UPDATES, **extra
            )
        if message is None:
            return Decision("skip", reason=no_utility or _not_allowed(adapter, row.kind))
        category = "service" if inside else category_of(settings, row.kind)
    else:
        name = (
            str(variables.get("template") or "")
            if row.kind == CAMPAIGN
            else (settings.templates.get(row.kind) or {}).get(language)
        )
        name, cards, gone = _cards(session, settings, row, language, variables, name)
        if gone:
            return Decision("skip", reason=gone)
        if not name:
            return Decision(
                "skip",
                reason=f"outside the 24-hour window and no template configured for {row.kind} in {language!r}",
            )
        header, missing = template_header(settings, name, row.kind, variables)
        if missing:
            # A send without the header's media would be refused (132000): say why instead.
            return Decision("skip", reason=missing)
        body, buttons = template_parameters(row.kind, variables, currency=name in settings.currency_templates)
        code = str(variables.get("template_language") or settings.template_languages.get(language, language))
        message = model.TemplateMessage(
            name=name,
            language=code,
            body_parameters=body,
            header_parameters=header,
            button_parameters=buttons,
        )
        if row.kind == "back_in_stock" and isinstance(message, model.TemplateMessage):
            message = _as_offer(settings, message, now)
        if cards:
            message = product_cards.with_cards(message, cards)
        category = category_of(settings, row.kind)
        changed = _recategorized(session, row.channel_connection_id, message, now, tally)
        if changed is not None:
            category = changed
            if changed == "marketing" and purpose != "marketing":
                # Meta made it a marketing template: it needs what a marketing message needs.
                marketing = (
                    consents.get((contact.id, "marketing"), False)
                    if consents is not None
                    else consent_in(session, contact.id, "marketing")
                )
                if not marketing:
                    return Decision(
                        "skip",
                        reason=f"template {name} was re-categorized as marketing by Meta and there is no opt-in "
                        "for marketing messages",
                    )
        if category == "marketing" and signals.us_marketing_template(settings, contact.phone or row.recipient):
            return Decision("skip", reason=US_MARKETING)
    if templates:
        country = pricing.country_of(contact.phone or row.recipient)
        entry = _entry_point(session, settings, contact.id, now, entry_points)
        cost = pricing.estimate(settings, category, country, inside_window=inside, at=now, entry_point=entry)
    else:
        # A PSID / IGSID is no phone number (7100000000001 would read as Russia), and these messages are free.
        country, cost = pricing.country_of(contact.phone), 0.0
    decision = Decision(
        "send", message=message, category=category, country=country, cost=cost, outside_window=not inside
    )
    if pricing.over_budget(session, settings, row.channel_connection_id, cost, now, tally):
        tomorrow = pricing.day_start(now) + timedelta(days=1)
        return Decision("defer", until=tomorrow, reason=f"daily budget of {settings.daily_budget:g} reached")
    if not inside and templates:
        until = pricing.reach_deferral(session, settings, row.channel_connection_id, row.recipient, now, tally)
        if until is not None:
            portfolio = pricing.portfolio_for(session, settings, row.channel_connection_id, tally)
            numbers = len(portfolio.channel_ids)
            shared = f" (business portfolio {portfolio.key}, shared by {numbers} numbers)" if numbers > 1 else ""
            return Decision(
                "defer", until=until, reason=f"reach limit of {portfolio.reach_limit} users per 24 h reached{shared}"
            )
    if tally is not None and tally.spent is not None:
        tally.spent += cost
    return decision


def utility_template(
    settings: NotifySettings,
    adapter: type[ChannelAdapter] | None,
    kind: str,
    language: str,
    variables: dict[str, Any],
) -> tuple[model.TemplateMessage | None, str | None]:
    """Outside the window, the Messenger utility template an order update goes as, or why there is none.

    ``(None, None)`` when the channel has no utility messages or the kind is no order update (the usual reasons
    apply). The customer must be in a market where Meta offers them (``messenger_utility_markets``, by the order's
    country) and the kind needs an approved Page template named in ``messenger_utility_templates``."""
    if adapter is None or not adapter.utility_messages or kind not in ORDER_UPDATES:
        return None, None
    markets = [m.upper() for m in settings.messenger_utility_markets]
    only = f"only {', '.join(markets)}" if markets else "none configured"
    country = str(variables.get("country") or "").upper()
    if not country:
        return None, f"outside the 24-hour window and the order names no country for a {adapter.label} utility " + (
            f"message ({only})"
        )
    if country not in markets:
        return (
            None,
            f"outside the 24-hour window and {adapter.label} utility messages are not available in {country} ({only})",
        )
    name = (settings.messenger_utility_templates.get(kind) or {}).get(language)
    if not name:
        return (
            None,
            f"outside the 24-hour window and no {adapter.label} utility template configured for {kind} in {language!r}",
        )
    body, _buttons = template_parameters(kind, variables)
    code = settings.template_languages.get(language, language)
    return model.TemplateMessage(name=name, language=code, body_parameters=body), None


def _cards(
    session: Session,
    settings: NotifySettings,
    row: OutboundMessage,
    language: str,
    variables: dict[str, Any],
    name: str | None,
) -> tuple[str | None, list[str], str | None]:
    """``(template, cards, why not sent)`` of a product-card carousel template: a campaign's featured products, or
    a checkout reminder's products when the cart holds several and ``carousel_templates`` names one. Sold-out and
    deleted products are left out; none left: why it is not sent. One product of a cart left: its one template."""
    if row.kind == CAMPAIGN and variables.get("cards"):
        cards = product_cards.buyable(session, row.channel_connection_id, variables["cards"])
        return name, cards, None if cards else product_cards.NONE_LEFT
    carousel = (settings.carousel_templates.get(row.kind) or {}).get(language)
    variants = [str(line.get("variant") or "") for line in variables.get("lines") or [] if isinstance(line, dict)]
    if row.kind != recovery.KIND or not carousel or len(set(filter(None, variants))) < 2:
        return name, [], None
    ids = product_cards.retailer_ids_of_variants(session, row.channel_connection_id, variants)
    cards = product_cards.buyable(session, row.channel_connection_id, ids)
    if not cards:
        return name, [], product_cards.NONE_LEFT
    return (carousel, cards, None) if len(cards) >= 2 else (name, [], None)


def _as_offer(settings: NotifySettings, message: model.TemplateMessage, now: datetime) -> model.TemplateMessage:
    """The back-in-stock template with the configured coupon code and limited-time-offer expiry (unchanged when
    neither is configured)."""
    if not settings.back_in_stock_coupon_code and settings.back_in_stock_offer_hours <= 0:
        return message
    expires = None
    if settings.back_in_stock_offer_hours > 0:
        expires = int((now + timedelta(hours=settings.back_in_stock_offer_hours)).timestamp() * 1000)
    fields = {f: getattr(message, f) for f in ("name", "language", "body_parameters", "header_parameters")}
    return model.OfferTemplateMessage(
        **fields,
        button_parameters=message.button_parameters,
        coupon_code=settings.back_in_stock_coupon_code,
        offer_expires_at=expires,
    )


def price_reply(
    session: Session,
    settings: NotifySettings,
    row: OutboundMessage,
    message: model.Outbound,
    contact: Contact | None,
    templates: bool,
    now: datetime,
    tally: pricing.Tally | None = None,
) -> dict[str, Any]:
    """The pricing columns of a chat reply (or a test message): a template by its category (re-categorized by
    Meta, else ``utility``), anything else ``service``; priced like a notification and counted into ``tally``.
    Never deferred: the budget rules defer notifications, not answers to a customer."""
    inside = contact is not None and window_open(contact, now)
    category = "service"
    if isinstance(message, model.TemplateMessage):
        category = _recategorized(session, row.channel_connection_id, message, now, tally) or "utility"
    if templates:
        country = pricing.country_of((contact.phone if contact is not None else None) or row.recipient)
        entry = contact is not None and _entry_point(session, settings, contact.id, now, None)
        cost = pricing.estimate(settings, category, country, inside_window=inside, at=now, entry_point=entry)
    else:
        country, cost = pricing.country_of(contact.phone if contact is not None else None), 0.0
    if tally is not None and tally.spent is not None:
        tally.spent += cost
    return {
        "category": category,
        "country": country,
        "cost": cost,
        "currency": settings.rate_card_currency,
        "outside_window": not inside,
    }


def _recategorized(
    session: Session, channel_id: int, message: model.TemplateMessage, now: datetime, tally: pricing.Tally | None
) -> str | None:
    """The category Meta moved ``message``'s template to, as of ``now`` (read once per template and batch)."""
    key = (message.name, message.language)
    if tally is not None and key in tally.template_categories:
        return tally.template_categories[key]
    found = billing.template_category(session, channel_id, message.name, message.language, now)
    if tally is not None:
        tally.template_categories[key] = found
    return found


def _entry_point(
    session: Session,
    settings: NotifySettings,
    contact_id: int,
    now: datetime,
    known: Mapping[int, datetime] | None,
) -> bool:
    """Whether the contact is inside a free entry-point window now."""
    if known is None:
        known = pricing.entry_points(session, [contact_id], now, settings.free_entry_point_hours)
    return contact_id in known


def _not_allowed(adapter: type[ChannelAdapter] | None, kind: str) -> str:
    """Why a notification cannot go out on a channel without templates."""
    label = adapter.label if adapter is not None else "this channel"
    if kind in ORDER_UPDATES:
        return f"outside the 24-hour window and {label} accepts no message tag for order updates"
    if kind in PROMOTIONAL:
        return f"promotional messages cannot be sent outside the 24-hour window on {label}"
    return f"outside the 24-hour window and {label} has no message tag for {kind} messages"
