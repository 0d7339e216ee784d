"""Each chat journey end to end over real HTTP (shop sandbox, Graph sandbox, connector), with the messages WhatsApp
billed for it (its status webhooks' ``pricing``): the cheapest conversation of issue #23.

The journeys are the scripts of ``python -m bench conversation`` (:mod:`bench.conversation`); ``BEFORE`` holds what
the same scripts cost before (measured on that code).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import select

from bench import conversation as journeys
from bench._journeys import JourneyStack, flow_message
from connector.db.models_conversation import ChatOrder
from connector.db.models_notify import Consent

#: The issue's targets: address change in at most 2 billed messages, every journey at most half of before.
TARGETS = {"address_change": 2}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JourneyStack]:
    running = JourneyStack(tmp_path_factory.mktemp("journeys"))
    try:
        yield running
    finally:
        running.close()


def _types(found: dict[str, Any]) -> list[str]:
    return [line.split(":", 1)[0] for line in found["transcript"]]


@pytest.mark.parametrize("name", journeys.JOURNEYS)
def test_each_journey_costs_at_most_half_of_before(stack: JourneyStack, name: str) -> None:
    found = journeys.run_journey(stack, name)
    billed = found["billed_messages"]
    assert 1 <= billed <= journeys.BEFORE[name] / 2, found
    assert billed <= TARGETS.get(name, billed)
    # Every billed reply is a service message at the German utility rate of the card in force (since 2026-10-01).
    assert found["cost"] == pytest.approx(billed * 0.055)
    expected = {
        # browsing: one carousel, then the order confirmation that carries the payment button
        "order_with_payment_link": ["interactive/carousel", "interactive/cta_url"],
        # the address as one form, then the confirmation from the shop
        "address_change": ["interactive/flow", "text"],
        "order_status": ["text"],
        "back_in_stock_subscribe": ["text"],
        "handoff": ["text"],
    }[name]
    assert _types(found) == expected


def test_order_with_payment_link_takes_two_billed_messages_after_the_cart(stack: JourneyStack) -> None:
    shopper = stack.shopper()
    wanted = journeys.in_stock(stack)[0]
    found = shopper.say(f"Do you have {journeys.product_title(stack, wanted)}?")
    assert found[0]["interactive"]["type"] == "carousel"
    after = stack.billed(shopper)[3]
    confirmation = shopper.cart({wanted: 1})
    count, _, _, _ = stack.billed(shopper, after)
    assert count == 1 and confirmation[0]["interactive"]["type"] == "cta_url"
    assert "Pay" in confirmation[0]["interactive"]["action"]["parameters"]["display_text"]


def test_journeys_from_a_click_to_whatsapp_ad_are_free(stack: JourneyStack) -> None:
    result = journeys.measure(stack, from_ad=True, names=("address_change", "order_status"))
    for name, found in result["journeys"].items():
        assert found["billed_messages"] == 0 and found["cost"] == 0.0, (name, found)


def test_a_wrong_form_answer_brings_the_form_back_and_changes_nothing(stack: JourneyStack) -> None:
    shopper = stack.shopper()
    shopper.cart({journeys.in_stock(stack)[0]: 1})
    form = flow_message(shopper.say("I need to change my delivery address"))
    assert form is not None
    again = shopper.flow_reply(form, {**journeys.NEW_ADDRESS, "postcode": "8033", "country": "DE"})
    retry = flow_message(again)
    assert retry is not None and "postcode" in retry["interactive"]["body"]["text"].lower()
    oversized = shopper.flow_reply(retry, {**journeys.NEW_ADDRESS, "name": "E" * 5000, "country": "DE"})
    retry = flow_message(oversized)
    assert retry is not None, "an oversized answer is refused like a wrong one"
    # an answer to the old form (its token is no longer awaited) gets no reply and changes nothing
    assert shopper.flow_reply(form, {**journeys.NEW_ADDRESS, "country": "DE"}) == []
    done = shopper.flow_reply(retry, {**journeys.NEW_ADDRESS, "country": "DE"})
    assert "Gartenweg 7" in done[0]["text"]["body"]
    with stack.runtime.db.session() as session:
        order = session.scalars(select(ChatOrder).order_by(ChatOrder.id.desc())).first()
    assert order is not None
    shipped_to = stack.runtime.connections.shop_adapter(stack.shop_id).get_order(order.order_external_id)
    assert shipped_to.shipping_address is not None and shipped_to.shipping_address.postcode == "80331"


def test_the_address_form_is_published_once_with_country_fields(stack: JourneyStack) -> None:
    settings = stack.graph.connection_settings()
    listed = requests.get(
        f"{settings['graph_url']}/{settings['api_version']}/{settings['waba_id']}/flows",
        headers={"Authorization": f"Bearer {settings['access_token']}"},
        timeout=30,
    ).json()["data"]
    address_forms = [f for f in listed if f["name"].startswith("chatshop_address_de_en_")]
    assert len(address_forms) == 1 and address_forms[0]["status"] == "PUBLISHED"
    assert address_forms[0]["validation_errors"] == []


@pytest.fixture
def dialogue_stack(tmp_path: Path) -> Iterator[JourneyStack]:
    running = JourneyStack(tmp_path, chat={"flows": False})
    try:
        yield running
    finally:
        running.close()


def test_without_flows_the_address_is_asked_step_by_step(dialogue_stack: JourneyStack) -> None:
    found = journeys.run_journey(dialogue_stack, "address_change")
    assert "interactive/flow" not in _types(found)
    assert found["transcript"][-1].startswith("text: Done: order")


@pytest.fixture
def checkout_stack(tmp_path: Path) -> Iterator[JourneyStack]:
    running = JourneyStack(tmp_path, chat={"checkout_form": True, "delivery_methods": ["Standard", "Express"]})
    try:
        yield running
    finally:
        running.close()


def test_checkout_form_places_the_order_with_delivery_notes_and_consent_proof(checkout_stack: JourneyStack) -> None:
    stack = checkout_stack
    shopper = stack.shopper()
    shopper.say("Hello")
    after = stack.billed(shopper)[3]
    form = flow_message(shopper.cart({journeys.in_stock(stack)[0]: 1}))
    assert form is not None
    answers = {"delivery": "m1", "notes": "Leave it with the neighbours", "terms": True, "marketing": True}
    confirmation = shopper.flow_reply(form, answers)
    assert confirmation[0]["interactive"]["type"] == "cta_url"
    assert stack.billed(shopper, after)[0] == 2, "the form and the order with its payment button"
    with stack.runtime.db.session() as session:
        order = session.scalars(select(ChatOrder).where(ChatOrder.status == "created")).one()
        consents = session.scalars(select(Consent)).all()
    proof = order.cart["checkout"]
    assert proof["delivery"] == "Express" and proof["notes"] == "Leave it with the neighbours"
    assert "terms and conditions" in proof["terms_text"] and proof["marketing"] is True
    assert any(c.purpose == "marketing" and "offers" in (c.text or "") for c in consents), consents
    shop_order = stack.runtime.connections.shop_adapter(stack.shop_id).get_order(order.order_external_id)
    assert shop_order.number == order.order_number
    assert json.dumps(proof)  # stored as plain JSON


@pytest.fixture(scope="module")
def shopware_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JourneyStack]:
    running = JourneyStack(tmp_path_factory.mktemp("shopware-journeys"), shop="shopware")
    try:
        yield running
    finally:
        running.close()


def _placed(stack: JourneyStack) -> Any:
    """The newest chat order and the shop's order it became."""
    with stack.runtime.db.session() as session:
        order = session.scalars(select(ChatOrder).order_by(ChatOrder.id.desc())).first()
    assert order is not None and order.status == "created", order
    return stack.runtime.connections.shop_adapter(stack.shop_id).get_order(order.order_external_id)


def test_shopware_collects_the_address_before_the_order_in_one_form(shopware_stack: JourneyStack) -> None:
    found = journeys.run_journey(shopware_stack, "shopware_order_with_address")
    # The form (with why it is needed), then the order confirmation carrying the payment button.
    assert _types(found) == ["interactive/flow", "interactive/cta_url"]
    assert found["billed_messages"] == 2 <= journeys.BEFORE["shopware_order_with_address"] / 2
    assert found["cost"] == pytest.approx(2 * 0.055)
    shop_order = _placed(shopware_stack)
    assert shop_order.shipping_address is not None
    assert (shop_order.shipping_address.line1, shop_order.shipping_address.postcode) == ("Gartenweg 7", "80331")
    assert shop_order.shipping_address.country_code == "DE"


def test_shopware_wrong_address_brings_the_form_back_and_orders_nothing(shopware_stack: JourneyStack) -> None:
    stack = shopware_stack
    shopper = stack.shopper()
    with stack.runtime.db.session() as session:
        orders_before = len(session.scalars(select(ChatOrder).where(ChatOrder.status == "created")).all())
    form = flow_message(shopper.cart({journeys.in_stock(stack)[0]: 1}))
    assert form is not None and "delivery address" in form["interactive"]["body"]["text"]
    again = shopper.flow_reply(form, {**journeys.NEW_ADDRESS, "postcode": "8033", "country": "DE"})
    retry = flow_message(again)
    assert retry is not None and "postcode" in retry["interactive"]["body"]["text"].lower()
    with stack.runtime.db.session() as session:
        created = session.scalars(select(ChatOrder).where(ChatOrder.status == "created")).all()
    assert len(created) == orders_before, "nothing reaches the shop with a wrong address"
    assert shopper.flow_reply(form, {**journeys.NEW_ADDRESS, "country": "DE"}) == [], "the old form is not awaited"
    done = shopper.flow_reply(retry, {**journeys.NEW_ADDRESS, "country": "AT", "postcode": "1010", "city": "Wien"})
    assert done[-1]["interactive"]["type"] == "cta_url"
    shipped_to = _placed(stack).shipping_address
    assert shipped_to is not None and (shipped_to.postcode, shipped_to.country_code) == ("1010", "AT")


@pytest.fixture
def shopware_dialogue_stack(tmp_path: Path) -> Iterator[JourneyStack]:
    running = JourneyStack(tmp_path, shop="shopware", chat={"flows": False})
    try:
        yield running
    finally:
        running.close()


def test_shopware_without_flows_keeps_the_address_dialogue(shopware_dialogue_stack: JourneyStack) -> None:
    found = journeys.run_journey(shopware_dialogue_stack, "shopware_order_with_address")
    assert "interactive/flow" not in _types(found)
    assert found["billed_messages"] == journeys.BEFORE["shopware_order_with_address"]
    assert found["transcript"][-1].startswith("interactive/cta_url")
    shipped_to = _placed(shopware_dialogue_stack).shipping_address
    assert shipped_to is not None and shipped_to.postcode == "80331"
