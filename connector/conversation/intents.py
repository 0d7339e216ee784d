"""Intents: the menu entries of the conversation and what each does. Plugins add their own.

A plugin returns :class:`Intent` objects from ``connector_chat_intents``; the engine shows them in the
menu after the built-in entries (a WhatsApp list holds 10 rows, so at most 4 plugin entries appear
there) and runs their handler when the customer picks the entry or writes one of its keywords::

    @hookimpl
    def connector_chat_intents():
        def opening_hours(ctx):
            return [TextMessage(ctx.text("Mon-Fri 9-18", de="Mo-Fr 9-18 Uhr"))]

        return [Intent(id="hours", titles={"en": "Opening hours", "de": "Öffnungszeiten"},
                       keywords=("hours", "öffnungszeiten"), handler=opening_hours)]
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from connector import model
from connector.i18n import formatting

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.orm import Session

    from connector.adapters import ShopAdapter
    from connector.conversation.state import Conversation
    from connector.runtime import Runtime

_ID = re.compile(r"^[a-z0-9_.-]{1,40}$")

#: The built-in menu entries, in menu order.
BUILTIN_INTENTS = ("browse", "search", "orders", "address", "back_in_stock", "agent")


@dataclass(slots=True)
class ChatContext:
    """What an intent handler knows about the conversation it answers.

    ``language`` is a shipped language code (``en``, ``de``, ``fr``, ``es``, ``it``, ``nl``, ``pt_BR``); ``channel`` the channel adapter's name (``whatsapp``,
    ``messenger``, ``instagram``); ``message`` the canonical inbound message being answered.
    """

    runtime: Runtime
    channel_connection_id: int
    shop_connection_id: int
    channel: str
    contact_id: int
    contact: model.Contact
    inbound_id: int
    message: model.Inbound
    language: str
    conversation: Conversation
    #: Writes that join the transaction storing the answer (see :meth:`on_save`).
    writes: list[Callable[[Session], None]] = field(default_factory=list)
    _shop: ShopAdapter | None = None
    _free_until: tuple[datetime | None] | None = None

    def shop(self) -> ShopAdapter:
        """The shop connection's adapter (looked up once per message: each lookup reads the connection row)."""
        if self._shop is None:
            self._shop = self.runtime.connections.shop_adapter(self.shop_connection_id)
        return self._shop

    def free_until(self) -> datetime | None:
        """When the free entry-point window this conversation runs in ends (the customer wrote from a
        Click-to-WhatsApp ad or a Page button within ``[notify] free_entry_point_hours``: every message is free until
        then), or ``None`` when messages are billed. Read once per message."""
        if self._free_until is None:
            from connector.notify import pricing

            hours = self.runtime.config.notify.free_entry_point_hours
            now = datetime.now(UTC)
            with self.runtime.db.session() as session:
                started = pricing.entry_points(session, [self.contact_id], now, hours).get(self.contact_id)
            if started is not None and started.tzinfo is None:
                started = started.replace(tzinfo=UTC)
            self._free_until = (started + timedelta(hours=hours),) if started is not None else (None,)
        return self._free_until[0]

    def on_save(self, write: Callable[[Session], None]) -> None:
        """Run ``write(session)`` in the one transaction that saves the state and queues the replies, so an answer
        and what it records (an order's outcome, an opt-in) commit together, in one transaction instead of two."""
        self.writes.append(write)

    def text(self, en: str, **translations: str) -> str:
        """``en``, or its translation for the conversation's language (``ctx.text("Hi", de="Hallo")``)."""
        return translations.get(self.language, en)

    def money(self, amount: model.Money | None) -> str:
        """``amount`` as the conversation's language writes money (``12,50 €``); empty for ``None``."""
        return "" if amount is None else formatting.money(amount, amount.currency, self.language)

    def day(self, value: datetime | None) -> str:
        """The date of ``value`` in the conversation's language, in ``[chat] time_zone``."""
        return formatting.day(value, self.language, self.runtime.config.chat.time_zone)

    def t(self, key: str, **values: Any) -> str:
        """The template text ``key`` (see :mod:`connector.conversation.texts`) in the conversation's language."""
        from connector.conversation import texts

        return texts.render(self.runtime, key, self.language, self.channel, **values)


Handler = Callable[[ChatContext], Sequence[model.Outbound]]


@dataclass(frozen=True, slots=True)
class Intent:
    """A menu entry: ``id`` (lowercase, unique), a title per language (at most 20 characters, the smallest
    menu row any channel shows), trigger ``keywords`` (whole messages, case-insensitive), and a ``handler``
    that answers with outbound messages."""

    id: str
    titles: dict[str, str]
    handler: Handler
    keywords: tuple[str, ...] = ()
    descriptions: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _ID.match(self.id):
            raise ValueError(f"intent id must match {_ID.pattern}, got {self.id!r}")
        if "en" not in self.titles:
            raise ValueError(f"intent {self.id!r} needs an English title")
        for language, title in self.titles.items():
            if not 0 < len(title) <= 20:
                raise ValueError(f"intent {self.id!r}: title for {language!r} must be 1-20 characters, got {title!r}")

    def title(self, language: str) -> str:
        """The menu title in ``language`` (English when the plugin gave none)."""
        return self.titles.get(language) or self.titles["en"]

    def description(self, language: str) -> str:
        return self.descriptions.get(language) or self.descriptions.get("en", "")

    def matches(self, text: str) -> bool:
        """Whether ``text`` (a whole message) is one of the keywords."""
        return text.strip().casefold() in {k.casefold() for k in self.keywords}


def plugin_intents(rt: Runtime) -> list[Intent]:
    """Intents from plugins (``connector_chat_intents``), built-in ids excluded, first one per id wins."""
    seen: set[str] = set(BUILTIN_INTENTS)
    result: list[Intent] = []
    for intent in rt.plugins.chat_intents():
        if isinstance(intent, Intent) and intent.id not in seen:
            seen.add(intent.id)
            result.append(intent)
    return result
