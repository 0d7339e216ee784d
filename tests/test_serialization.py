"""Canonical values and plugins' own outbound types survive JSON (the outbox, the task queue) unchanged."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar

import pytest

from connector import hookimpl, model
from connector.plugins import Plugins
from connector.serialization import from_json, register_types, registered_types, tag_of, to_json


def stored(value: Any) -> Any:
    """``value`` as it comes back from a JSON column: serialised, written as text, read, rebuilt."""
    return from_json(json.loads(json.dumps(to_json(value))))


def test_canonical_values_round_trip() -> None:
    variant = model.Variant(
        external_id="v1",
        product_external_id="p1",
        title="Linen shirt",
        price=model.Money(Decimal("59.90"), "EUR"),
        sale_price=model.Money("49.90", "EUR"),
        availability=model.Availability.OUT_OF_STOCK,
        attributes={"size": "M"},
        updated_at=datetime(2026, 5, 1, 12, tzinfo=UTC),
    )
    assert stored(variant) == variant
    message = model.ListMessage("Pick", "Open", [model.ListSection("A", [model.ListRow("a:1", "One", "first")])])
    assert stored(message) == message


def test_messenger_envelope_with_cards_and_a_tag_round_trips(plugins: Plugins) -> None:
    """The Messenger plugin's MetaSend, as the outbox stores it: nested canonical message, cards, enums, tuples."""
    from connector_messenger.outbound import MessageTag, MessagingType, MetaSend, ProductCard

    cards = (
        ProductCard(
            retailer_id="v1",
            title="Linen shirt",
            subtitle="sold out · 49.90 EUR",
            price=model.Money("49.90", "EUR"),
            image_url="https://shop.example/1.jpg",
            url="https://shop.example/p/1",
            view_title="Ansehen",
            action=model.Button("notify:v1", "Benachrichtigen"),
        ),
        ProductCard(
            retailer_id="v2",
            title="Chino",
            price=model.Money("79.00", "EUR"),
            extra_buttons=(model.Button("sizes:v2", "Sizes"),),
        ),
    )
    listing = model.ProductListMessage("", "Shirts", "2 products", [model.ProductSection("Available", ["v1", "v2"])])
    send = MetaSend(message=listing, products=cards, tag=MessageTag.POST_PURCHASE_UPDATE)
    back = stored(send)
    assert back == send
    assert type(back) is MetaSend and type(back.products) is tuple and type(back.products[0]) is ProductCard
    assert back.tag is MessageTag.POST_PURCHASE_UPDATE and back.effective_type is MessagingType.MESSAGE_TAG
    assert back.products[1].extra_buttons == (model.Button("sizes:v2", "Sizes"),)
    # plugin types are tagged by module and name, so they can never be mistaken for another plugin's class
    assert to_json(send)["__type__"] == "connector_messenger.outbound:MetaSend"
    update = MetaSend(message=model.TextMessage("Shipped"), messaging_type=MessagingType.UPDATE, human_agent=True)
    assert stored(update) == update


class Priority(enum.StrEnum):
    LOW = "low"
    HIGH = "high"


@dataclass(frozen=True, slots=True)
class Badge:
    text: str
    priority: Priority = Priority.LOW


@dataclass(frozen=True, slots=True)
class Announcement(model.Outbound):
    """A third-party channel's own message type (defined here: hints resolve in this module's globals)."""

    body: str
    badges: tuple[Badge, ...] = ()
    pair: tuple[str, int] = ("a", 1)
    extra: dict[str, Badge] = field(default_factory=dict)


def test_a_channel_plugins_outbound_types_are_registered_when_it_loads() -> None:
    from connector.adapters import ChannelAdapter

    class Pager(ChannelAdapter):
        name = "pager-test"
        label = "Pager"
        outbound_types: ClassVar[tuple[type, ...]] = (Announcement,)

        def test_connection(self) -> Any: ...
        def validate_message(self, message: model.Outbound) -> None: ...
        def send(self, recipient: model.Contact, message: model.Outbound) -> Any: ...
        def verify_webhook(self, request: Any) -> None: ...
        def parse_webhook(self, request: Any) -> Any: ...

    class PagerPlugin:
        @hookimpl
        def connector_register_channel_adapters(self) -> list[type[ChannelAdapter]]:
            return [Pager]

    value = Announcement("Sale", (Badge("new", Priority.HIGH),), ("b", 2), {"x": Badge("hot")})
    with pytest.raises(TypeError, match="not registered"):
        to_json(value)
    plugins = Plugins(load_entry_points=False)
    plugins.register(PagerPlugin(), name="pager-test")
    # the nested dataclass came along; the enum needs no registration
    assert {tag_of(Announcement), tag_of(Badge)} <= set(registered_types())
    back = stored(value)
    assert back == value and type(back.badges[0]) is Badge and back.badges[0].priority is Priority.HIGH


def test_an_unknown_tag_or_a_non_dataclass_is_a_clear_error() -> None:
    with pytest.raises(TypeError, match="no loaded plugin registered"):
        from_json({"__type__": "connector_gone.outbound:Envelope", "body": "x"})
    with pytest.raises(TypeError, match="only dataclasses"):
        register_types(int)
