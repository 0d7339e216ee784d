"""``python -m bench conversation [--json] [--country DE] [--from-ad]``: billed messages per chat journey.

Each journey (see :mod:`bench._journeys`) is run by a new WhatsApp customer against the sandboxes; the result is
``{"country": "DE", "journeys": {name: {"billed_messages": N, "cost": X, "before": M}, ...}}`` where ``before``
is the count of the same journey before issue #23 (measured on that code with this script, kept in
:data:`BEFORE`). ``--from-ad``: every customer starts from a Click-to-WhatsApp ad (the free entry point).
The :data:`SHOPWARE_JOURNEYS` run on a Shopware shop (``--shop`` picks the shop of the others);
``--no-flows``: every journey with the text dialogues (Messenger, Instagram, a number without Flows).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from bench._journeys import AD_REFERRAL, JOURNEYS, JourneyStack, Shopper, flow_message, offered_ids

#: Billed messages per journey measured on the code before issue #23 (commit 379a903, DE customer).
BEFORE = {
    "order_with_payment_link": 5,
    "address_change": 8,
    "order_status": 2,
    "back_in_stock_subscribe": 3,
    "handoff": 2,
    # The text dialogue (5 questions, the confirmation, the order), measured with ``[chat] flows = false``.
    "shopware_order_with_address": 7,
}
#: Journeys run against a Shopware shop (it needs a delivery address before it takes an order); their ``before``
#: is the same script with the text dialogue (``[chat] flows = false``), which is what every channel got before.
SHOPWARE_JOURNEYS = ("shopware_order_with_address",)
#: The new address the address-change journey enters.
NEW_ADDRESS = {"name": "Erika Mustermann", "line1": "Gartenweg 7", "postcode": "80331", "city": "München"}


def _first(shopper: Shopper, text: str, from_ad: bool) -> list[dict[str, Any]]:
    """The customer's first message of the journey (from a Click-to-WhatsApp ad with ``from_ad``)."""
    return shopper.say(text, referral=AD_REFERRAL if from_ad else None)


def _via_menu(shopper: Shopper, replies: list[dict[str, Any]], entry: str) -> list[dict[str, Any]]:
    """Tap the menu's ``entry`` when the bot answered with the menu instead of doing what was asked."""
    return shopper.tap(entry) if entry in offered_ids(replies) else replies


def order_with_payment_link(stack: JourneyStack, shopper: Shopper, from_ad: bool) -> None:
    """ "Do you have <product>?" → the products (browsing the menu's collections if that is what the bot offers) →
    a cart from what was shown → the order with its payment link."""
    wanted = in_stock(stack)[0]
    replies = _via_menu(
        shopper, _first(shopper, f"Do you have {product_title(stack, wanted)}?", from_ad), "menu:browse"
    )
    collections = [i for i in offered_ids(replies) if i.startswith("col:")]
    if collections:
        shopper.tap(collections[0])
    shopper.cart({wanted: 1})


def address_change(stack: JourneyStack, shopper: Shopper, from_ad: bool) -> None:
    """ "I need to change my delivery address" → the new address (a Flow, or the text dialogue) → confirmed."""
    replies = _via_menu(shopper, _first(shopper, "I need to change my delivery address", from_ad), "menu:address")
    flow = flow_message(replies)
    if flow is not None:
        shopper.flow_reply(flow, {**NEW_ADDRESS, "country": "DE"})
        return
    for answer in (*NEW_ADDRESS.values(), "DE"):
        shopper.say(answer)
    shopper.tap("addr:yes")


def order_status(stack: JourneyStack, shopper: Shopper, from_ad: bool) -> None:
    """ "Where is my order?" → its status."""
    _via_menu(shopper, _first(shopper, "Where is my order?", from_ad), "menu:orders")


def back_in_stock_subscribe(stack: JourneyStack, shopper: Shopper, from_ad: bool) -> None:
    """ "Please tell me when <sold-out product> is back in stock" → subscribed."""
    title = sold_out_title(stack)
    replies = _first(shopper, f"Please tell me when {title} is back in stock", from_ad)
    if "menu:back_in_stock" in offered_ids(replies):
        shopper.tap("menu:back_in_stock")
        replies = shopper.say(title)
    notify = [i for i in offered_ids(replies) if i.startswith("notify:")]
    if notify:
        shopper.tap(notify[0])


def handoff(stack: JourneyStack, shopper: Shopper, from_ad: bool) -> None:
    """ "Can I talk to a real person please?" → handed to a person."""
    _via_menu(shopper, _first(shopper, "Can I talk to a real person please?", from_ad), "menu:agent")


def shopware_order_with_address(stack: JourneyStack, shopper: Shopper, from_ad: bool) -> None:
    """A cart at a shop that needs the delivery address first (Shopware) → the address (a Flow, or the text
    dialogue) → the order with its payment link."""
    if from_ad:
        _first(shopper, "Hi", from_ad)  # the ad opens the conversation
    replies = shopper.cart({in_stock(stack)[0]: 1})
    flow = flow_message(replies)
    if flow is not None:
        shopper.flow_reply(flow, {**NEW_ADDRESS, "country": "DE"})
        return
    for answer in (*NEW_ADDRESS.values(), "DE"):
        shopper.say(answer)
    shopper.tap("addr:yes")


def _order_first(stack: JourneyStack, shopper: Shopper) -> None:
    """An order placed earlier (not counted: the journey's customer bought before)."""
    shopper.cart({in_stock(stack)[0]: 1})


SCRIPTS = {
    "order_with_payment_link": order_with_payment_link,
    "address_change": address_change,
    "order_status": order_status,
    "back_in_stock_subscribe": back_in_stock_subscribe,
    "handoff": handoff,
    "shopware_order_with_address": shopware_order_with_address,
}
#: What a journey's customer did before it (not counted).
SETUP = {"address_change": _order_first, "order_status": _order_first}


def _rid(item: dict[str, Any]) -> str:
    return str(item.get("retailer_id") or item.get("id"))


def in_stock(stack: JourneyStack) -> list[str]:
    """Retailer ids the WhatsApp catalog shows in stock (at least 3), in a stable order."""
    items = stack.graph.catalog_items(stack.graph.connection_settings()["catalog_id"])
    found = [
        _rid(item) for item in items if item.get("availability") == "in stock" and int(item.get("inventory") or 0) >= 3
    ]
    return sorted(found, key=lambda rid: int(rid) if rid.isdigit() else 0)


def product_title(stack: JourneyStack, retailer_id: str) -> str:
    """The catalog title of ``retailer_id``."""
    items = stack.graph.catalog_items(stack.graph.connection_settings()["catalog_id"])
    item = next(i for i in items if _rid(i) == retailer_id)
    return str(item.get("title") or item.get("name"))


def sold_out_title(stack: JourneyStack) -> str:
    """The title of a product sold out in the shop (one is sold out first, and the catalog synced)."""
    items = {_rid(i): i for i in stack.graph.catalog_items(stack.graph.connection_settings()["catalog_id"])}
    titles = [i.get("title") or i.get("name") or "" for i in items.values()]
    chosen = next(
        rid
        for rid in in_stock(stack)
        if sum(1 for t in titles if t == (items[rid].get("title") or items[rid].get("name"))) == 1
    )
    stack.shop.set_stock(chosen, 0)
    stack.full_sync()
    return str(items[chosen].get("title") or items[chosen].get("name"))


def run_journey(stack: JourneyStack, name: str, *, country: str = "DE", from_ad: bool = False) -> dict[str, Any]:
    """Run journey ``name`` with a new customer; its billed messages, their cost and what was sent."""
    shopper = stack.shopper(country)
    setup = SETUP.get(name)
    after = 0
    if setup is not None:
        setup(stack, shopper)
        after = stack.billed(shopper)[3]  # the earlier purchase's messages are left out of the count
    SCRIPTS[name](stack, shopper, from_ad)
    count, cost, sent, _ = stack.billed(shopper, after)
    bot = stack.graph.messages_to(shopper.wa_id)[-len(sent) :] if sent else []
    return {"billed_messages": count, "cost": cost, "sent": sent, "transcript": [_shown(m) for m in bot]}


def _shown(message: dict[str, Any]) -> str:
    """One sent message in a line: its type and the start of its text."""
    kind = message.get("type", "")
    content = message.get(kind) or {}
    if kind == "interactive":
        kind = f"interactive/{content.get('type')}"
        text = (content.get("body") or {}).get("text", "")
    elif kind == "template":
        text = content.get("name", "")
    else:
        text = content.get("body", "")
    return f"{kind}: {' '.join(str(text).split())[:90]}"


def measure(
    stack: JourneyStack, *, country: str = "DE", from_ad: bool = False, names: tuple[str, ...] = JOURNEYS
) -> dict[str, Any]:
    """The benchmark's result for ``names`` on a running ``stack``."""
    journeys: dict[str, Any] = {}
    for name in names:
        found = run_journey(stack, name, country=country, from_ad=from_ad)
        journeys[name] = {"billed_messages": found["billed_messages"], "cost": found["cost"], "before": BEFORE[name]}
    return {"country": country, "journeys": journeys}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench conversation")
    parser.add_argument("--json", action="store_true", help="print only the JSON result")
    parser.add_argument("--country", default="DE", help="the customers' country (DE, AT, GB, US)")
    parser.add_argument("--from-ad", action="store_true", help="customers start from a Click-to-WhatsApp ad")
    parser.add_argument("--shop", default="woocommerce", choices=["shopify", "woocommerce", "shopware"])
    parser.add_argument("--verbose", action="store_true", help="also list what was sent per journey")
    parser.add_argument("--no-flows", action="store_true", help="no WhatsApp Flows: the text dialogues")
    args = parser.parse_args(argv)
    import json

    chat = {"flows": False} if args.no_flows else None
    result: dict[str, Any] = {"country": args.country, "journeys": {}}
    # The usual journeys on the chosen shop, then the Shopware ones on a Shopware shop.
    for shop, names in ((args.shop, JOURNEYS), ("shopware", SHOPWARE_JOURNEYS)):
        with tempfile.TemporaryDirectory(prefix="bench-conversation-") as folder:
            stack = JourneyStack(Path(folder), shop=shop, chat=chat)
            try:
                if args.verbose:
                    for name in names:
                        found = run_journey(stack, name, country=args.country, from_ad=args.from_ad)
                        print(f"{name}: {found['billed_messages']} billed, {found['cost']}")
                        for line in found["transcript"]:
                            print(f"    {line}")
                    continue
                measured = measure(stack, country=args.country, from_ad=args.from_ad, names=names)
                result["journeys"].update(measured["journeys"])
            finally:
                stack.close()
    if not args.verbose:
        print(json.dumps(result, indent=None if args.json else 2))
    return 0
