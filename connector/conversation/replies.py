"""Building replies that every channel can show, and fitting them into the channel's limits.

Titles of list rows and buttons are kept within the smallest limit of any channel (20 characters:
Messenger quick replies and buttons); a longer product title is shortened with a visible "…" and
given whole in the row's description. Whatever still breaks a channel limit is split into more
messages by :func:`fit` (the adapter's own ``validate_message`` decides), never cut silently.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from connector import model
from connector.errors import MessageLimitError

if TYPE_CHECKING:
    from connector.adapters import ChannelAdapter
    from connector.conversation.intents import ChatContext

TITLE_CHARS = 20
DESCRIPTION_CHARS = 72


def short(text: str, limit: int = TITLE_CHARS) -> str:
    """``text`` within ``limit`` characters, ending in "…" when it had to be shortened."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def menu(ctx: ChatContext, intro: str | None = None) -> list[model.Outbound]:
    """The main menu: built-in entries, then plugins' intents (a WhatsApp list holds 10 rows)."""
    from connector.conversation.intents import plugin_intents

    rows = [
        model.ListRow("menu:browse", ctx.t("entry_browse")),
        model.ListRow("menu:search", ctx.t("entry_search")),
        model.ListRow("menu:orders", ctx.t("entry_orders")),
        model.ListRow("menu:address", ctx.t("entry_address")),
        model.ListRow("menu:back_in_stock", ctx.t("entry_back_in_stock"), short(ctx.t("entry_back_in_stock_desc"), 72)),
        model.ListRow("menu:agent", ctx.t("entry_agent")),
    ]
    for intent in plugin_intents(ctx.runtime)[: 10 - len(rows)]:
        rows.append(model.ListRow(f"menu:{intent.id}", intent.title(ctx.language), intent.description(ctx.language)))
    body = ctx.t("menu_body", name=ctx.contact.name.split(" ")[0] if ctx.contact.name else "")
    if intro:
        body = f"{intro}\n\n{body}"
    return [
        model.ListMessage(
            body=body, button=ctx.t("menu_button"), sections=[model.ListSection(ctx.t("menu_heading"), rows)]
        )
    ]


def agent_offer(ctx: ChatContext, body: str) -> model.ButtonsMessage:
    """``body`` with a button that hands the conversation to a person."""
    return model.ButtonsMessage(body=body, buttons=[model.Button("menu:agent", short(ctx.t("agent_button")))])


#: Messages a text before them can join: the text becomes the start of their body.
_JOINABLE = (
    model.TextMessage,
    model.ListMessage,
    model.ButtonsMessage,
    model.LinkButtonMessage,
    model.ProductListMessage,
    model.ProductCarouselMessage,
    model.FlowMessage,
)


def plan(adapter: ChannelAdapter, replies: list[model.Outbound]) -> list[model.Outbound]:
    """A turn's replies in as few messages as the channel takes (every message a business sends on WhatsApp is
    billed): a text is joined to the message after it ("Address saved." + the order summary with its payment button
    = one message) when the joined message stays within the channel's limits; otherwise both go."""
    planned: list[model.Outbound] = []
    for reply in replies:
        previous = planned[-1] if planned else None
        if isinstance(previous, model.TextMessage) and isinstance(reply, _JOINABLE) and reply.body:
            joined = replace(reply, body=f"{previous.body}\n\n{reply.body}")
            try:
                adapter.validate_message(joined)
            except MessageLimitError:
                pass
            else:
                planned[-1] = joined
                continue
        planned.append(reply)
    return planned


def fit(adapter: ChannelAdapter, message: model.Outbound, depth: int = 0) -> list[model.Outbound]:
    """``message`` as one or more messages the channel accepts: lists and product lists are paged, long texts
    split at line breaks. Raises :class:`MessageLimitError` for what cannot be split (a bug in a text)."""
    try:
        adapter.validate_message(message)
        return [message]
    except MessageLimitError:
        if depth > 6:
            raise
        parts = _split(message)
        if parts is None:
            raise
    return [piece for part in parts for piece in fit(adapter, part, depth + 1)]


def _halves(items: list, size: int | None = None) -> tuple[list, list]:
    middle = size if size is not None else (len(items) + 1) // 2
    return items[:middle], items[middle:]


def _split(message: model.Outbound) -> list[model.Outbound] | None:
    if isinstance(message, model.ListMessage):
        rows = [(s.title, r) for s in message.sections for r in s.rows]
        if len(rows) < 2:
            return None
        first, second = _halves(rows)
        return [_list_of(message, first), _list_of(message, second)]
    if isinstance(message, model.ProductListMessage):
        products = [(s.title, rid) for s in message.sections for rid in s.retailer_ids]
        if len(products) < 2:
            return None
        first, second = _halves(products)
        return [_products_of(message, first), _products_of(message, second)]
    if isinstance(message, model.TextMessage):
        return _split_text(message.body)
    if isinstance(message, model.ButtonsMessage | model.LinkButtonMessage):
        paragraphs = message.body.rsplit("\n\n", 1)
        if len(paragraphs) < 2:
            return None
        return [
            *(_split_text(paragraphs[0]) or [model.TextMessage(paragraphs[0])]),
            replace(message, body=paragraphs[1]),
        ]
    return None


def _split_text(body: str) -> list[model.Outbound] | None:
    lines = body.split("\n")
    if len(lines) < 2:
        words = body.split(" ")
        if len(words) < 2:
            return None
        first, second = _halves(words)
        return [model.TextMessage(" ".join(first)), model.TextMessage(" ".join(second))]
    first, second = _halves(lines)
    return [model.TextMessage("\n".join(first)), model.TextMessage("\n".join(second))]


def _list_of(message: model.ListMessage, rows: list[tuple[str, model.ListRow]]) -> model.ListMessage:
    sections: list[model.ListSection] = []
    for title, row in rows:
        if sections and sections[-1].title == title:
            sections[-1].rows.append(row)
        else:
            sections.append(model.ListSection(title, [row]))
    return replace(message, sections=sections)


def _products_of(message: model.ProductListMessage, products: list[tuple[str, str]]) -> model.ProductListMessage:
    sections: list[model.ProductSection] = []
    for title, retailer_id in products:
        if sections and sections[-1].title == title:
            sections[-1].retailer_ids.append(retailer_id)
        else:
            sections.append(model.ProductSection(title, [retailer_id]))
    return replace(message, sections=sections)
