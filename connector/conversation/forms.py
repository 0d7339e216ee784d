"""Forms inside the chat (WhatsApp Flows): the delivery address and the checkout details in one message each.

Where the channel connection has forms (:meth:`~connector.adapters.ChannelAdapter.flows_enabled`) and ``[chat]
flows`` is on, the address change sends one form instead of a five-step text dialogue, and (``[chat]
checkout_form``) a cart is answered with a checkout form. The form's JSON is generated here in the customer's
language and country, published through the channel (once per version), and sent as a
:class:`~connector.model.FlowMessage` whose ``flow_token`` names what it is for. The answer
(:class:`~connector.model.InboundFlowReply`) is accepted only for the form the conversation is waiting for
(its token is kept in the conversation state), validated like the dialogue's answers, and applied the same way.
When publishing fails, the text dialogue runs instead: a customer is never left without a way to answer.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from connector import model
from connector.conversation import address
from connector.conversation.replies import short
from connector.errors import ConnectorError

if TYPE_CHECKING:
    from connector.conversation.intents import ChatContext

log = logging.getLogger(__name__)

FLOW_JSON_VERSION = "7.3"
ADDRESS_SCREEN = "ADDRESS"
CHECKOUT_SCREEN = "CHECKOUT"
#: Countries the address form offers, with a postcode example for the helper text.
COUNTRIES = {
    "DE": ("Deutschland", "10115"),
    "AT": ("Österreich", "1010"),
    "CH": ("Schweiz", "8001"),
    "NL": ("Nederland", "1012 AB"),
    "FR": ("France", "75001"),
    "GB": ("United Kingdom", "SW1A 1AA"),
    "US": ("United States", "10001"),
}
#: Longest answer taken for one address field (a form answer is the customer's own input).
FIELD_CHARS = 120
#: US ZIP codes (the dialogue's validation knows no US format).
_US_ZIP = re.compile(r"^\d{5}(-\d{4})?$")


def available(ctx: ChatContext) -> bool:
    """Whether this conversation can get forms (the setting, and the channel connection has them)."""
    if not ctx.runtime.config.chat.flows:
        return False
    adapter = ctx.runtime.connections.channel_adapter(ctx.channel_connection_id)
    return model.FlowMessage in adapter.supports and adapter.flows_enabled()


def _publish(ctx: ChatContext, name: str, flow_json: dict[str, Any], categories: list[str]) -> str | None:
    """The published form's id, or ``None`` when the channel refused it (logged; the dialogue runs instead)."""
    adapter = ctx.runtime.connections.channel_adapter(ctx.channel_connection_id)
    try:
        return adapter.publish_flow(name, flow_json, categories)
    except (ConnectorError, NotImplementedError) as exc:
        log.warning("form %s could not be published on channel connection %s: %s", name, ctx.channel_connection_id, exc)
        return None


# --------------------------------------------------------------------------- the address form


def country_for(ctx: ChatContext, order: model.Order | None = None) -> str:
    """The country whose address fields the form shows: the order's delivery country, else the customer's phone
    number's, else Germany."""
    from connector.notify.pricing import country_of

    known = order.shipping_address.country_code if order is not None and order.shipping_address else ""
    guess = (known or country_of(ctx.contact.phone or ctx.contact.channel_user_id) or "DE").upper()
    return guess if guess in COUNTRIES else "DE"


def address_flow_json(ctx: ChatContext, country: str) -> dict[str, Any]:
    """The address form for ``country`` (its field names, order and postcode example), in the customer's language."""

    def label(key: str) -> str:
        return short(ctx.t(key, country=country), 20)

    def field(name: str, key: str, **extra: Any) -> dict[str, Any]:
        return {"type": "TextInput", "name": name, "label": label(key), "input-type": "text", "required": True, **extra}

    help_text = short(ctx.t("form_postcode_help", example=COUNTRIES[country][1]), 80)
    postcode = field("postcode", "form_label_postcode", **{"helper-text": help_text})
    fields = [field("name", "form_label_name"), field("line1", "form_label_line1")]
    if country == "US":
        fields += [field("city", "form_label_city"), field("state", "form_label_state"), postcode]
    elif country == "GB":
        fields += [field("city", "form_label_city"), postcode]
    else:
        fields += [postcode, field("city", "form_label_city")]
    countries = [{"id": code, "title": name} for code, (name, _) in COUNTRIES.items()]
    fields.append(
        {
            "type": "Dropdown",
            "name": "country",
            "label": label("form_label_country"),
            "data-source": countries,
            "required": True,
            "init-value": country,
        }
    )
    payload = {f["name"]: f"${{form.{f['name']}}}" for f in fields}
    footer: dict[str, Any] = {"type": "Footer", "label": short(ctx.t("form_address_save"), 35)}
    footer["on-click-action"] = {"name": "complete", "payload": payload}
    screen = {
        "id": ADDRESS_SCREEN,
        "title": short(ctx.t("form_address_title"), 30),
        "terminal": True,
        "success": True,
        "layout": {"type": "SingleColumnLayout", "children": [*fields, footer]},
    }
    return {"version": FLOW_JSON_VERSION, "screens": [screen]}


def ask_address(ctx: ChatContext, *, order: model.Order, problem: str | None = None) -> list[model.Outbound] | None:
    """Send the address form for ``order`` (after ``problem`` with the last answer); ``None`` when forms are
    unavailable or the form could not be published (the caller runs the dialogue)."""
    if not available(ctx):
        return None
    body = ctx.t("form_address_body", number=order.number)
    return _address_form(
        ctx, country_for(ctx, order), body, problem, purpose="change", order_id=order.external_id, number=order.number
    )


def ask_checkout_address(
    ctx: ChatContext, *, lines: list[dict[str, Any]], source: int, problem: str | None = None
) -> list[model.Outbound] | None:
    """Send the address form for a cart the shop needs a delivery address for before it takes the order (Shopware):
    one message, the reason and the form; ``None`` when forms are unavailable (the caller runs the dialogue)."""
    if not available(ctx):
        return None
    body = ctx.t("order_needs_address")
    return _address_form(ctx, country_for(ctx), body, problem, purpose="checkout", source=source, lines=lines)


def _address_form(
    ctx: ChatContext, country: str, body: str, problem: str | None, **state: Any
) -> list[model.Outbound] | None:
    """Publish the address form for ``country``, open the conversation's address flow with ``state`` and a fresh
    token, and the one message that carries the form (after ``problem`` with the last answer, if any); ``None``
    when the form could not be published."""
    flow_id = _publish(
        ctx, f"chatshop_address_{country.lower()}_{ctx.language}", address_flow_json(ctx, country), ["OTHER"]
    )
    if flow_id is None:
        return None
    token = f"addr:{secrets.token_urlsafe(12)}"
    ctx.conversation.start("address", "form", ctx.runtime.config.chat.flow_timeout_minutes, token=token, **state)
    if problem:
        body = f"{ctx.t('form_address_retry', problem=problem)}\n\n{body}"
    cta = short(ctx.t("form_address_cta"))
    return [model.FlowMessage(flow_id=flow_id, flow_token=token, cta=cta, body=body, screen=ADDRESS_SCREEN)]


def _address_from(ctx: ChatContext, answers: dict[str, Any]) -> tuple[model.Address | None, str]:
    """The address the form's answers give, or ``None`` and what is wrong (the dialogue's own complaint)."""
    fields: dict[str, str] = {}
    country = str(answers.get("country") or "").strip().upper()
    cleaned_country = address.validate("country", country, fields)
    if cleaned_country is None or cleaned_country not in COUNTRIES:
        return None, ctx.t("address_invalid_country")
    fields["country_code"] = cleaned_country
    for step in ("name", "line1", "postcode", "city"):
        raw = str(answers.get(step) or "")
        value = address.validate(step, raw, fields) if len(raw) <= FIELD_CHARS else None
        if value is None:
            return None, ctx.t(f"address_invalid_{step}")
        fields[step] = value
    pattern = address.POSTCODES.get(cleaned_country)
    zip_ok = _US_ZIP.match(fields["postcode"]) if cleaned_country == "US" else True
    if (pattern and not re.fullmatch(pattern, fields["postcode"])) or not zip_ok:
        return None, ctx.t("address_invalid_postcode")
    state = " ".join(str(answers.get("state") or "").split())[:64]
    if cleaned_country == "US" and not re.fullmatch(r"[A-Za-z]{2}", state):
        return None, ctx.t("address_invalid_city")
    found = model.Address(
        name=fields["name"],
        line1=fields["line1"],
        postcode=fields["postcode"],
        city=fields["city"],
        country_code=cleaned_country,
        phone=ctx.contact.phone or "",
        region=state.upper() if cleaned_country == "US" else "",
    )
    return found, ""


def _shown(found: model.Address) -> str:
    region = f" {found.region}" if found.region else ""
    return f"{found.name}\n{found.line1}\n{found.postcode} {found.city}{region}\n{found.country_code}"


# --------------------------------------------------------------------------- the checkout form


def checkout_flow_json(ctx: ChatContext) -> dict[str, Any]:
    """The checkout form: delivery method, notes, the terms (required) and marketing (optional) consent boxes."""
    settings = ctx.runtime.config.chat
    shop = ctx.runtime.connections.get_shop(ctx.shop_connection_id).name
    methods = [{"id": f"m{i}", "title": short(name, 30)} for i, name in enumerate(settings.delivery_methods)]
    children: list[dict[str, Any]] = [
        {
            "type": "RadioButtonsGroup",
            "name": "delivery",
            "label": short(ctx.t("form_label_delivery"), 30),
            "data-source": methods,
            "required": True,
            "init-value": methods[0]["id"],
        },
        {"type": "TextArea", "name": "notes", "label": short(ctx.t("form_label_notes"), 20), "required": False},
        {
            "type": "OptIn",
            "name": "terms",
            "label": short(ctx.t("form_consent_terms", shop=shop), 120),
            "required": True,
        },
        {"type": "OptIn", "name": "marketing", "label": short(ctx.t("form_consent_marketing"), 120), "required": False},
    ]
    payload = {c["name"]: f"${{form.{c['name']}}}" for c in children}
    footer: dict[str, Any] = {"type": "Footer", "label": short(ctx.t("form_checkout_submit"), 35)}
    footer["on-click-action"] = {"name": "complete", "payload": payload}
    screen = {
        "id": CHECKOUT_SCREEN,
        "title": short(ctx.t("form_checkout_title"), 30),
        "terminal": True,
        "success": True,
        "layout": {"type": "SingleColumnLayout", "children": [*children, footer]},
    }
    return {"version": FLOW_JSON_VERSION, "screens": [screen]}


def ask_checkout(
    ctx: ChatContext, lines: list[model.CartLine], total: str, problem: str | None = None
) -> list[model.Outbound] | None:
    """Send the checkout form for the checked cart ``lines`` (after ``problem`` with the last answer); ``None`` when
    forms are off or unavailable."""
    if not ctx.runtime.config.chat.checkout_form or not available(ctx):
        return None
    from connector.conversation.checkout import lines_to_json

    flow_id = _publish(ctx, f"chatshop_checkout_{ctx.language}", checkout_flow_json(ctx), ["SHOPPING"])
    if flow_id is None:
        return None
    token = f"checkout:{secrets.token_urlsafe(12)}"
    ctx.conversation.start(
        "checkout_form",
        "form",
        ctx.runtime.config.chat.flow_timeout_minutes,
        lines=lines_to_json(lines),
        source=ctx.inbound_id,
        token=token,
        shown={
            "terms": ctx.t("form_consent_terms", shop=ctx.runtime.connections.get_shop(ctx.shop_connection_id).name),
            "marketing": ctx.t("form_consent_marketing"),
        },
    )
    body = ctx.t("form_checkout_body", total=total)
    message = model.FlowMessage(
        flow_id=flow_id,
        flow_token=token,
        cta=short(ctx.t("form_checkout_cta")),
        body=f"{problem}\n\n{body}" if problem else body,
        screen=CHECKOUT_SCREEN,
    )
    return [message]


def _checked(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


# --------------------------------------------------------------------------- answers


def answer(ctx: ChatContext, reply: model.InboundFlowReply) -> list[model.Outbound]:
    """A completed form: applied when it is the one the conversation waits for; anything else gets no reply (an old
    form submitted again, a form of another tool on the same number)."""
    conv = ctx.conversation
    token = reply.flow_token or str(reply.response.get("flow_token") or "")
    flow = conv.in_flow()
    if not token or flow not in ("address", "checkout_form") or conv.data.get("token") != token:
        return []
    if flow == "address":
        return _apply_address(ctx, reply.response)
    return _apply_checkout(ctx, reply.response)


def _apply_address(ctx: ChatContext, answers: dict[str, Any]) -> list[model.Outbound]:
    data = dict(ctx.conversation.data)
    found, problem = _address_from(ctx, answers)
    if data.get("purpose") == "checkout":
        return _apply_checkout_address(ctx, data, found, problem)
    if found is None:
        adapter = ctx.shop()
        try:
            order = adapter.get_order(data["order_id"])
        except ConnectorError:
            ctx.conversation.clear()
            return [model.TextMessage(ctx.t("lookup_not_found", number=data["number"]))]
        return ask_address(ctx, order=order, problem=problem) or [model.TextMessage(problem)]
    ctx.conversation.clear()
    ctx.conversation.address = asdict(found)
    return address.change(ctx, data["order_id"], data["number"], found, _shown(found))


def _apply_checkout_address(
    ctx: ChatContext, data: dict[str, Any], found: model.Address | None, problem: str
) -> list[model.Outbound]:
    """The delivery address a shop needed before the order: kept for the conversation (as the dialogue keeps it),
    then the same cart is placed; a wrong answer brings the form back with the reason, nothing is ordered."""
    from connector.conversation import checkout

    if found is None:
        retry = ask_checkout_address(ctx, lines=data["lines"], source=int(data["source"]), problem=problem)
        return retry or [model.TextMessage(problem)]
    ctx.conversation.clear()
    ctx.conversation.address = asdict(found)
    return [
        model.TextMessage(ctx.t("address_saved", address=_shown(found))),
        *checkout.place(ctx, checkout.lines_from_json(data["lines"]), source_inbound_id=int(data["source"])),
    ]


def _apply_checkout(ctx: ChatContext, answers: dict[str, Any]) -> list[model.Outbound]:
    from connector.conversation import checkout

    data = dict(ctx.conversation.data)
    methods = ctx.runtime.config.chat.delivery_methods
    delivery = str(answers.get("delivery") or "")
    index = int(delivery[1:]) if re.fullmatch(r"m\d{1,2}", delivery) else -1
    lines = checkout.lines_from_json(data["lines"])
    if not _checked(answers.get("terms")) or not 0 <= index < len(methods):
        # WhatsApp enforces the required boxes itself; this is a form answered by something else.
        retry = ask_checkout(ctx, lines, ctx.money(checkout.total(lines)), problem=ctx.t("form_checkout_invalid"))
        return retry or [model.TextMessage(ctx.t("form_checkout_invalid"))]
    notes = " ".join(str(answers.get("notes") or "").split())[:500]
    shown = data.get("shown") or {}
    marketing = _checked(answers.get("marketing"))
    # The proof of what was agreed: the texts shown, the answers, the form's token; stored with the order.
    details = {
        "delivery": methods[index],
        "notes": notes,
        "terms_text": shown.get("terms", ""),
        "marketing": marketing,
        "marketing_text": shown.get("marketing", "") if marketing else "",
        "flow_token": data["token"],
        "inbound_message_id": ctx.inbound_id,
    }
    ctx.conversation.clear()
    if marketing:
        _record_marketing(ctx, shown.get("marketing", ""), data["token"])
    note = f"Delivery: {methods[index]}" + (f"\nNotes: {notes}" if notes else "")
    return checkout.place(ctx, lines, source_inbound_id=int(data["source"]), note=note, details=details)


def _record_marketing(ctx: ChatContext, text: str, token: str) -> None:
    """The ticked marketing box, with the exact text the customer saw, in the answer's transaction."""
    from connector.notify import consent

    source = f"chat_form:{ctx.channel}:{ctx.inbound_id}"[:64]

    def record(session: Any) -> None:
        consent.record_opt_in(
            ctx.runtime,
            contact_id=ctx.contact_id,
            purpose="marketing",
            source=source,
            text=text,
            session=session,
            on_channel=True,  # the customer's own tick in the form
        )

    ctx.on_save(record)
