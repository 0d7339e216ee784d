"""Collecting a delivery address step by step, validated, in the customer's language.

Used to change the address of an order that has not shipped (``purpose="change"``) and to give a shop
that needs one an address before an order can be placed (``purpose="checkout"``).
"""

from __future__ import annotations

import re
from dataclasses import asdict
from typing import TYPE_CHECKING

from connector import model
from connector.conversation.replies import agent_offer, short
from connector.errors import NotFound, OrderAlreadyShipped

if TYPE_CHECKING:
    from connector.conversation.intents import ChatContext

STEPS = ("name", "line1", "postcode", "city", "country")

#: Country names customers write instead of the ISO code.
COUNTRY_NAMES = {
    "deutschland": "DE",
    "germany": "DE",
    "österreich": "AT",
    "oesterreich": "AT",
    "austria": "AT",
    "schweiz": "CH",
    "switzerland": "CH",
    "niederlande": "NL",
    "netherlands": "NL",
    "frankreich": "FR",
    "france": "FR",
}
#: Postcode formats of the countries we know; others accept any 2-10 letters, digits, spaces or dashes.
POSTCODES = {
    "DE": r"\d{5}",
    "AT": r"\d{4}",
    "CH": r"\d{4}",
    "NL": r"\d{4} ?[A-Z]{2}",
    "FR": r"\d{5}",
    "GB": r"[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}",
}
_ANY_POSTCODE = re.compile(r"^[A-Z0-9][A-Z0-9 \-]{1,9}$")


def start(ctx: ChatContext, *, purpose: str, **data: object) -> list[model.Outbound]:
    """Open the address flow and ask for the first field."""
    ctx.conversation.start("address", "name", ctx.runtime.config.chat.flow_timeout_minutes, purpose=purpose, **data)
    ctx.conversation.data["fields"] = {}
    if purpose == "change":
        return [model.TextMessage(ctx.t("address_ask_name", number=data.get("number") or ""))]
    return [model.TextMessage(ctx.t("address_ask_recipient"))]


def validate(step: str, value: str, fields: dict[str, str]) -> str | None:
    """The cleaned value for ``step``, or ``None`` when it is not valid."""
    value = " ".join(value.split())
    if step == "name":
        return value if len(value) >= 2 and any(c.isalpha() for c in value) else None
    if step == "line1":
        return (
            value if len(value) >= 3 and any(c.isalpha() for c in value) and any(c.isdigit() for c in value) else None
        )
    if step == "postcode":
        upper = value.upper()
        return upper if _ANY_POSTCODE.match(upper) else None
    if step == "city":
        return value if len(value) >= 2 and any(c.isalpha() for c in value) else None
    if step == "country":
        code = COUNTRY_NAMES.get(value.casefold(), value.upper())
        return code if re.fullmatch(r"[A-Z]{2}", code) else None
    raise ValueError(f"unknown address step {step!r}")


def _text(fields: dict[str, str]) -> str:
    return f"{fields['name']}\n{fields['line1']}\n{fields['postcode']} {fields['city']}\n{fields['country_code']}"


def answer(ctx: ChatContext, text: str) -> list[model.Outbound]:
    """The customer answered the current step: store it and ask the next, or ask again when it is not valid."""
    conv = ctx.conversation
    if conv.step == "form":
        # The customer writes instead of filling in the form: the dialogue takes over, this text being the name.
        conv.step = "name"
        conv.data.pop("token", None)
        conv.data["fields"] = {}
    step = conv.step or "name"
    fields: dict[str, str] = conv.data.setdefault("fields", {})
    if step == "confirm":
        return _confirm_prompt(ctx)
    value = validate(step, text, fields)
    if value is None:
        return [model.TextMessage(ctx.t(f"address_invalid_{step}"))]
    fields["country_code" if step == "country" else step] = value
    pattern = POSTCODES.get(fields.get("country_code", ""))
    if "postcode" in fields and pattern and not re.fullmatch(pattern, fields["postcode"]):
        del fields["postcode"]  # wrong for the country: ask for it again, then continue where we were
        conv.step = "postcode"
        return [model.TextMessage(ctx.t("address_invalid_postcode"))]
    remaining = [s for s in STEPS if ("country_code" if s == "country" else s) not in fields]
    if remaining:
        conv.step = remaining[0]
        return [model.TextMessage(ctx.t(f"address_ask_{remaining[0]}"))]
    conv.step = "confirm"
    return _confirm_prompt(ctx)


def _confirm_prompt(ctx: ChatContext) -> list[model.Outbound]:
    fields = ctx.conversation.data["fields"]
    if ctx.conversation.data.get("purpose") == "change":
        body = ctx.t("address_confirm_body", number=ctx.conversation.data.get("number") or "", address=_text(fields))
    else:
        body = ctx.t("address_confirm_checkout", address=_text(fields))
    buttons = [
        model.Button("addr:yes", short(ctx.t("address_yes"))),
        model.Button("addr:no", short(ctx.t("address_no"))),
    ]
    return [model.ButtonsMessage(body=body, buttons=buttons)]


def confirmed(ctx: ChatContext, yes: bool) -> list[model.Outbound]:
    """The customer confirmed (or rejected) the collected address."""
    conv = ctx.conversation
    if conv.in_flow() != "address" or conv.step != "confirm":
        return [model.TextMessage(ctx.t("cart_expired"))] if conv.in_flow() is None else answer(ctx, "")
    data = dict(conv.data)
    if not yes:
        extra = {k: v for k, v in data.items() if k in ("number", "order_id", "source", "lines")}
        return start(ctx, purpose=data["purpose"], **extra)
    fields = data["fields"]
    address = model.Address(
        name=fields["name"],
        line1=fields["line1"],
        postcode=fields["postcode"],
        city=fields["city"],
        country_code=fields["country_code"],
        phone=ctx.contact.phone or "",
    )
    conv.clear()
    conv.address = asdict(address)
    if data["purpose"] == "checkout":
        from connector.conversation import checkout

        return [
            model.TextMessage(ctx.t("address_saved", address=_text(fields))),
            *checkout.place(ctx, checkout.lines_from_json(data["lines"]), source_inbound_id=int(data["source"])),
        ]
    return change(ctx, data["order_id"], data["number"], address, _text(fields))


def change(ctx: ChatContext, order_id: str, number: str, address: model.Address, shown: str) -> list[model.Outbound]:
    """Update the order's delivery address in the shop, unless it shipped."""
    adapter = ctx.shop()
    try:
        order = adapter.get_order(order_id)
        if order.shipped:
            raise OrderAlreadyShipped(number)
        adapter.update_shipping_address(order_id, address)
    except OrderAlreadyShipped:
        return [agent_offer(ctx, ctx.t("address_too_late", number=number))]
    except NotFound:
        return [model.TextMessage(ctx.t("lookup_not_found", number=number))]
    return [model.TextMessage(ctx.t("address_done", number=number, address=shown))]
