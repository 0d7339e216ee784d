"""Fixtures for the conversation engine: a live stack with WhatsApp and Messenger, and a customer driving it.

The customer talks to the connector only through the Graph sandbox's control API (as a real customer
talks to WhatsApp), and reads what the sandbox accepted from the connector.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench._answered import wait_answered
from connector.db.migrate import upgrade
from connector.plugins import Plugins
from connector.runtime import Runtime
from tests.conftest import Stack, make_config, start_stack, stop_stack

_phones = itertools.count(4915100000001)
_psids = itertools.count(7100000000001)


def chat_runtime(tmp_path: Path, plugins: Plugins, **chat: Any) -> Runtime:
    """A migrated runtime with ``[chat]`` settings (fast retries, no pair-rate waits)."""
    rt = Runtime(make_config(f"sqlite:///{tmp_path / 'connector.db'}", chat=chat), plugins=plugins)
    upgrade(rt.db)
    return rt


class ChatStack:
    """A stack with a WhatsApp and a Messenger connection on the same shop, catalog synced."""

    def __init__(self, stack: Stack):
        self.stack = stack
        self.runtime = stack.runtime
        self.graph = stack.graph
        self.shop = stack.shop
        stack.graph.set_options(pair_limit=10_000, mps=10_000)
        settings = stack.graph.connection_settings()
        messenger_cls = self.runtime.plugins.channel_adapters["messenger"]
        names = {f.name for f in messenger_cls.config_fields}
        messenger_settings = {
            "page_id": settings["page_id"],
            "page_access_token": settings["access_token"],
            "app_secret": settings["app_secret"],
            "verify_token": settings["verify_token"],
            "graph_url": settings["graph_url"],
            "api_version": settings["api_version"],
        }
        row = self.runtime.connections.create_channel(
            shop_connection_id=stack.shop_id,
            name="Test page",
            channel="messenger",
            settings={k: v for k, v in messenger_settings.items() if k in names},
        )
        self.messenger_id = row.id
        stack.graph.subscribe_webhooks(
            self.runtime.connections.webhook_url("messenger", row.id),
            object="page",
            verify_token=settings["verify_token"],
        )
        stack.full_sync()

    def in_stock(self, count: int, *, min_stock: int = 3) -> list[str]:
        """Ids of ``count`` variants the catalog shows in stock (with at least ``min_stock``), in a stable order."""
        items = self.stack.catalog()
        ids = [
            rid
            for rid, item in sorted(items.items(), key=lambda kv: int(kv[0]) if kv[0].isdigit() else kv[0])
            if item.get("availability") == "in stock" and int(item.get("inventory") or 0) >= min_stock
        ]
        return ids[:count]

    def whatsapp_customer(self, name: str = "Erika Muster") -> Customer:
        return Customer(self, "whatsapp", str(next(_phones)), name)

    def messenger_customer(self) -> Customer:
        return Customer(self, "messenger", str(next(_psids)), "")


class Customer:
    """One sandbox customer: writes, taps, sends carts, and reads the replies the connector sent them."""

    def __init__(self, chat: ChatStack, channel: str, user_id: str, name: str):
        self.chat = chat
        self.channel = channel
        self.user_id = user_id
        self.name = name
        self.seen = 0

    @property
    def channel_id(self) -> int:
        return self.chat.stack.channel_id if self.channel == "whatsapp" else self.chat.messenger_id

    # ------------------------------------------------------------------ acting

    def say(self, text: str) -> list[dict[str, Any]]:
        if self.channel == "whatsapp":
            mid = self.chat.graph.customer_text(None, self.user_id, text, name=self.name)
        else:
            mid = self.chat.graph.messenger_text(self.user_id, text)["message"]["mid"]
        return self.replies_to(mid)

    def choose(self, reply_id: str) -> list[dict[str, Any]]:
        """Pick a list row / press a button (WhatsApp) or tap a quick reply / postback (Messenger) by its id."""
        graph = self.chat.graph
        if self.channel == "whatsapp":
            try:
                sent = graph.customer_pick_row(None, self.user_id, reply_id)
            except Exception:
                sent = graph.customer_press_button(None, self.user_id, reply_id)
            return self.replies_to(sent["id"])
        event = graph.messenger_choose(self.user_id, reply_id)
        mid = (event.get("message") or event.get("postback") or {}).get("mid")
        return self.replies_to(mid)

    def cart(self, items: dict[str, int]) -> list[dict[str, Any]]:
        sent = self.chat.graph.customer_cart(None, self.user_id, items)
        return self.replies_to(sent["id"])

    def fill_form(self, flow_message: dict[str, Any], answers: dict[str, Any]) -> list[dict[str, Any]]:
        """Fill in and submit the WhatsApp Flow of ``flow_message`` (a flow message this customer was sent)."""
        parameters = flow_message["interactive"]["action"]["parameters"]
        response = {"flow_token": parameters["flow_token"], **answers}
        sent = self.chat.graph.whatsapp_event(
            self.user_id, "flow_reply", response=response, context_id=flow_message["_sandbox"]["id"]
        )
        return self.replies_to(sent["id"])

    # ------------------------------------------------------------------ reading

    def replies_to(self, message_id: str) -> list[dict[str, Any]]:
        """Wait until the connector answered ``message_id`` and the channel accepted every reply; return them.

        The wait lasts as long as the connector makes progress (:func:`bench._answered.wait_answered`)."""
        wait_answered(self.chat.runtime, self.channel_id, message_id)
        messages = self.chat.graph.messages_to(self.user_id)
        new = messages[self.seen :]
        self.seen = len(messages)
        return new

    def last_texts(self, replies: list[dict[str, Any]]) -> str:
        """Every visible text of ``replies`` joined (bodies, buttons, rows, quick replies)."""
        return "\n".join(visible_text(r) for r in replies)


def visible_text(body: dict[str, Any]) -> str:
    """What a customer reads in one sent message, whatever its shape."""
    parts: list[str] = []
    if "text" in body and isinstance(body["text"], dict):
        parts.append(body["text"].get("body", ""))
    interactive = body.get("interactive") or {}
    for key in ("header", "body", "footer"):
        value = interactive.get(key)
        if isinstance(value, dict):
            parts.append(value.get("text", ""))
    action = interactive.get("action") or {}
    for section in action.get("sections") or []:
        parts.append(section.get("title", ""))
        for row in section.get("rows") or []:
            parts.append(f"{row.get('title', '')} {row.get('description', '')}")
    for button in action.get("buttons") or []:
        parts.append((button.get("reply") or {}).get("title", ""))
    if action.get("parameters"):
        parts.append(str(action["parameters"].get("display_text", "")))
        parts.append(str(action["parameters"].get("url", "")))
    message = body.get("message") or {}
    if isinstance(message.get("text"), str):
        parts.append(message["text"])
    for reply in message.get("quick_replies") or []:
        parts.append(reply.get("title", ""))
    payload = (message.get("attachment") or {}).get("payload") or {}
    parts.append(payload.get("text", ""))
    for button in payload.get("buttons") or []:
        parts.append(f"{button.get('title', '')} {button.get('url', '')}")
    for element in payload.get("elements") or []:  # generic-template cards (Messenger, Instagram)
        parts.append(f"{element.get('title', '')} {element.get('subtitle', '')}")
        for button in element.get("buttons") or []:
            parts.append(f"{button.get('title', '')} {button.get('url', '')}")
    return "\n".join(p for p in parts if p)


def reply_ids(replies: list[dict[str, Any]]) -> list[str]:
    """Every row, button and quick-reply id offered in ``replies``."""
    ids: list[str] = []
    for body in replies:
        action = (body.get("interactive") or {}).get("action") or {}
        for section in action.get("sections") or []:
            ids.extend(row["id"] for row in section.get("rows") or [] if "id" in row)
        ids.extend(b["reply"]["id"] for b in action.get("buttons") or [] if "reply" in b)
        message = body.get("message") or {}
        ids.extend(r["payload"] for r in message.get("quick_replies") or [])
        payload = (message.get("attachment") or {}).get("payload") or {}
        ids.extend(b["payload"] for b in payload.get("buttons") or [] if b.get("type") == "postback")
        for element in payload.get("elements") or []:  # generic-template cards (Messenger, Instagram)
            ids.extend(b["payload"] for b in element.get("buttons") or [] if b.get("type") == "postback")
    return ids


@pytest.fixture
def chat_stack(tmp_path: Path, plugins: Plugins, request: pytest.FixtureRequest) -> Iterator[ChatStack]:
    """WooCommerce sandbox -> connector (WhatsApp + Messenger) -> Graph sandbox; parametrize ``shop`` and ``chat``
    indirectly through ``request.param`` = {"shop": ..., "chat": {...}, "shop_webhooks": ...}."""
    params = getattr(request, "param", {}) or {}
    rt = chat_runtime(tmp_path, plugins, **params.get("chat", {}))
    stack = start_stack(rt, params.get("shop", "woocommerce"), shop_webhooks=params.get("shop_webhooks", False))
    try:
        yield ChatStack(stack)
    finally:
        stop_stack(stack)
        rt.close()
