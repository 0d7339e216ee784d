"""Chat journeys scripted against the sandboxes, and what WhatsApp billed for each.

A :class:`JourneyStack` runs a shop sandbox, the Graph sandbox and a connector (web app + embedded worker) in this
process. Each journey is one new customer (a German number by default) doing what a customer does to reach an
outcome (browse and order, change an address...), tapping whatever the bot offers. The billed messages are the
journey's outbound messages whose status webhooks said ``pricing.billable: true``; their cost is Meta's reported
category priced by the rate card in force (:func:`connector.notify.pricing.billed_cost`) for the customer's country.

Used by ``python -m bench conversation`` and by the end-to-end tests that assert each journey's count.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench._answered import SETTLED, wait_answered
from connector.config import generate_secrets, load_config
from connector.db.migrate import upgrade
from connector.db.models import Contact, OutboundMessage
from connector.demo import _fields_for, _subscribe
from connector.notify import pricing
from connector.plugins import Plugins
from connector.runtime import Runtime
from connector.server import EmbeddedServer

JOURNEYS = ("order_with_payment_link", "address_change", "order_status", "back_in_stock_subscribe", "handoff")
#: A country's first mobile number of the journeys' customers (the number tells the price's market).
FIRST_NUMBERS = {"DE": 4915200000001, "AT": 436640000001, "GB": 447700900001, "US": 12025550101}
#: A Click-to-WhatsApp ad's referral, as Meta puts it on the customer's first message (opens the free entry point).
AD_REFERRAL = {
    "source_url": "https://fb.me/chatshop-ad",
    "source_id": "120200000000000001",
    "source_type": "ad",
    "headline": "Winter sale",
    "body": "Order in chat",
    "ctwa_clid": "ARAkLkA8rmlFeiCktEJQ",
}


def wait(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``predicate`` until it is truthy (the machine may be busy: progress, not time, ends the wait)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout}s")
        time.sleep(0.05)


@dataclass
class Shopper:
    """One WhatsApp customer of a journey: writes, taps, sends carts, reads what the business sent them."""

    stack: JourneyStack
    wa_id: str
    name: str = "Erika Muster"
    seen: int = 0
    inbound: list[str] = field(default_factory=list)

    def say(self, text: str, *, referral: dict[str, str] | None = None) -> list[dict[str, Any]]:
        mid = self.stack.graph.customer_text(None, self.wa_id, text, name=self.name, referral=referral)
        return self._answered(mid)

    def tap(self, reply_id: str) -> list[dict[str, Any]]:
        """Pick a list row or press a reply button the customer was offered."""
        graph = self.stack.graph
        try:
            sent = graph.customer_pick_row(None, self.wa_id, reply_id)
        except Exception:
            sent = graph.customer_press_button(None, self.wa_id, reply_id)
        return self._answered(sent["id"])

    def cart(self, items: dict[str, int]) -> list[dict[str, Any]]:
        return self._answered(self.stack.graph.customer_cart(None, self.wa_id, items)["id"])

    def flow_reply(self, flow_message: dict[str, Any], answers: dict[str, Any]) -> list[dict[str, Any]]:
        """Fill in and submit the Flow of ``flow_message`` (an interactive flow message the customer was sent)."""
        parameters = flow_message["interactive"]["action"]["parameters"]
        response = {"flow_token": parameters["flow_token"], **answers}
        sent = self.stack.graph.whatsapp_event(
            self.wa_id, "flow_reply", response=response, context_id=flow_message["_sandbox"]["id"]
        )
        return self._answered(sent["id"])

    def _answered(self, message_id: str) -> list[dict[str, Any]]:
        self.inbound.append(message_id)
        self.stack.wait_answered(message_id)
        messages = self.stack.graph.messages_to(self.wa_id)
        new = messages[self.seen :]
        self.seen = len(messages)
        return new


class JourneyStack:
    """Shop sandbox + Graph sandbox + connector in this process, the shop's catalog synced."""

    def __init__(self, folder: Path, *, shop: str = "woocommerce", chat: dict[str, Any] | None = None):
        self.plugins = Plugins()
        sandboxes = self.plugins.sandboxes()
        self.shop: Any = sandboxes[shop]()
        self.graph: Any = sandboxes["graph"]()
        self.shop.start()
        self.graph.start()
        self.graph.set_options(pair_limit=10_000, mps=10_000)
        secrets = generate_secrets()
        overrides: dict[str, Any] = {
            "database": {"url": f"sqlite:///{folder / 'journeys.db'}"},
            "security": {"secret_key": secrets["secret_key"], "encryption_keys": [secrets["encryption_key"]]},
            "scheduler": {"enabled": False},
            "worker": {"threads": 2, "poll_interval": 0.05},
            "chat": chat or {},
        }
        self.runtime = Runtime(load_config(overrides=overrides), plugins=self.plugins)
        upgrade(self.runtime.db)
        self.server = EmbeddedServer(self.runtime, port=0, scheduler=False)
        self.runtime.config.server.public_url = self.server.url
        self.server.start()
        rt = self.runtime
        self.shop_id = rt.connections.create_shop(
            name="Journey shop",
            platform=shop,
            settings=_fields_for(rt.plugins.shop_adapters[shop], self.shop.connection_settings()),
        ).id
        graph_settings = self.graph.connection_settings()
        self.channel_id = rt.connections.create_channel(
            shop_connection_id=self.shop_id,
            name="Journey number",
            channel="whatsapp",
            settings=_fields_for(rt.plugins.channel_adapters["whatsapp"], graph_settings),
        ).id
        _subscribe(rt, self.shop, shop, self.shop_id)
        self.graph.subscribe_webhooks(
            rt.connections.webhook_url("whatsapp", self.channel_id),
            object="whatsapp_business_account",
            verify_token=graph_settings["verify_token"],
        )
        self.full_sync()
        self._numbers: dict[str, itertools.count[int]] = {}

    def full_sync(self) -> None:
        """A full sync now (after one a shop webhook started, if one is running)."""
        from connector.sync.catalog import SyncBusy, run_sync

        def synced() -> bool:
            try:
                run_sync(self.runtime, self.shop_id, mode="full", trigger="manual")
            except SyncBusy:
                return False
            return True

        wait(synced, 120, "a full catalog sync")

    def close(self) -> None:
        self.server.stop()
        self.shop.stop()
        self.graph.stop()
        self.runtime.close()

    # ------------------------------------------------------------------ customers and waiting

    def shopper(self, country: str = "DE") -> Shopper:
        numbers = self._numbers.setdefault(country, itertools.count(FIRST_NUMBERS[country]))
        return Shopper(self, str(next(numbers)))

    def wait_answered(self, message_id: str) -> None:
        """Until the connector answered ``message_id`` and the channel took (or refused) every reply."""
        wait_answered(self.runtime, self.channel_id, message_id)

    def billed(self, shopper: Shopper, after: int = 0, timeout: float = 60.0) -> tuple[int, float, list[str], int]:
        """The messages sent to ``shopper`` (outbox ids above ``after``) that WhatsApp reported billable, their cost
        at the rate card for the customer's country, every message's kind and reported category, and the newest
        outbox id (waits for each sent message's status)."""
        rt = self.runtime

        def reported() -> list[OutboundMessage] | None:
            with rt.db.session() as session:
                contact = session.scalar(
                    select(Contact.id).where(
                        Contact.channel_connection_id == self.channel_id, Contact.channel_user_id == shopper.wa_id
                    )
                )
                rows = session.scalars(
                    select(OutboundMessage)
                    .where(
                        OutboundMessage.contact_id == contact,
                        OutboundMessage.status.in_(SETTLED),
                        OutboundMessage.id > after,
                    )
                    .order_by(OutboundMessage.id)
                ).all()
                pending = session.scalar(
                    select(func.count()).where(
                        OutboundMessage.contact_id == contact, OutboundMessage.status.notin_(SETTLED)
                    )
                )
                if pending or any(r.status != "failed" and r.billable is None for r in rows):
                    return None
                session.expunge_all()
                return list(rows) or None

        rows: list[OutboundMessage] = wait(reported, timeout, f"the pricing of the messages to {shopper.wa_id}")
        country = pricing.country_of(shopper.wa_id)
        settings = rt.config.notify
        billed = [r for r in rows if r.billable]
        cost = sum(pricing.billed_cost(settings, r.billed_category, True, country, r.sent_at) for r in billed)
        return len(billed), round(float(cost), 4), [f"{r.kind}:{r.billed_category}" for r in rows], rows[-1].id


# --------------------------------------------------------------------------- helpers for scripts


def offered_ids(replies: list[dict[str, Any]]) -> list[str]:
    """Every list row and reply button id offered in ``replies``."""
    ids: list[str] = []
    for body in replies:
        action = (body.get("interactive") or {}).get("action") or {}
        for section in action.get("sections") or []:
            ids.extend(row["id"] for row in section.get("rows") or [] if "id" in row)
        ids.extend(b["reply"]["id"] for b in action.get("buttons") or [] if "reply" in b)
    return ids


def flow_message(replies: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The interactive flow message among ``replies`` (the newest), if any."""
    flows = [r for r in replies if (r.get("interactive") or {}).get("type") == "flow"]
    return flows[-1] if flows else None


def dumps(result: dict[str, Any]) -> str:
    return json.dumps(result, indent=2, sort_keys=False)
