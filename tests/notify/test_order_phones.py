"""Phone numbers as customers type them into shop orders: read into E.164 with the order's country
(``phonenumbers``), or flagged on the contact as unusable and never messaged. Over real HTTP: WooCommerce sandbox
order -> connector -> Graph sandbox."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from connector import model
from connector.db.models import Contact
from connector.phones import read_phone
from tests.conftest import Stack
from tests.notify.conftest import StackFactory, customer, rows, settled


@pytest.mark.parametrize(
    ("typed", "country", "e164"),
    [
        ("0151 12345678", "DE", "+4915112345678"),
        ("(415) 555-2671", "US", "+14155552671"),
        ("06 12 34 56 78", "FR", "+33612345678"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("+44 7911 123456", "DE", "+447911123456"),  # written internationally: its own country wins
        ("0049 151 12345678", None, "+4915112345678"),  # "00" international prefix: no country needed
        (" 0151-123 456 78 ", "de", "+4915112345678"),
    ],
)
def test_typed_numbers_become_e164_with_the_orders_country(typed: str, country: str | None, e164: str) -> None:
    reading = read_phone(typed, country)
    assert (reading.e164, reading.problem) == (e164, None)


@pytest.mark.parametrize(
    ("typed", "country", "problem"),
    [
        ("(555) 555-5555", "US", "(555) 555-5555 is not a valid phone number in US"),
        # a digit short for a German 0151 mobile number: possible-looking, but no such number exists
        ("0151 1234567", "DE", "0151 1234567 is not a valid phone number in DE"),
        ("0151 1234567", None, "national number 0151 1234567: no country is named to read it with"),
        ("0151 1234567", "XX", "national number 0151 1234567: no country it names (XX) is unknown to read it with"),
        ("0151 1234567", "US", "0151 1234567 is not a valid phone number in US"),
        ("+1 555 555 5555", "DE", "+1 555 555 5555 is not a valid phone number in US"),
    ],
)
def test_numbers_that_cannot_be_read_are_never_guessed(typed: str, country: str | None, problem: str) -> None:
    assert read_phone(typed, country) == read_phone(typed, country).__class__(None, problem)


def test_text_that_is_no_number_is_unusable() -> None:
    assert read_phone("call me after 6", "DE").e164 is None
    assert read_phone("", "DE").problem == "no phone number"


def _order(stack: Stack, typed_phone: str, country: str, reference: str) -> model.Order:
    """An order whose billing phone is ``typed_phone`` as the customer typed it, billed to ``country``."""
    adapter = stack.runtime.connections.shop_adapter(stack.shop_id)
    return adapter.create_order(
        model.Cart(
            lines=[model.CartLine(variant_external_id=stack.shop.variant_ids()[3], quantity=1)], reference=reference
        ),
        model.Customer(phone=typed_phone, email="kim@example.com", first_name="Kim", last_name="Lee"),
        model.Address(name="Kim Lee", line1="1 Main St", postcode="10001", city="Town", country_code=country),
    )


def test_a_national_number_from_a_german_order_reaches_its_e164_whatsapp_number(notify_stack: StackFactory) -> None:
    stack = notify_stack()
    customer(stack, "4915112345678")  # opted in on WhatsApp earlier (wa_id: the number in E.164 without "+")
    order = _order(stack, "0151 12345678", "DE", "typed-de")
    stack.shop.ship_order(order.external_id, company="DHL", number="TRK1", url="https://dhl.example/t")

    [row] = settled(stack, "order_shipped")
    assert row.status in ("sent", "delivered", "read"), row.reason or row.error
    assert row.recipient == "4915112345678" and row.country == "DE"
    [sent] = stack.graph.messages_to("4915112345678")
    assert sent["to"] == "4915112345678" and sent["template"]["name"] == "order_shipped"


def test_a_number_that_cannot_be_read_flags_the_contact_and_nothing_is_sent(notify_stack: StackFactory) -> None:
    stack = notify_stack()
    order = _order(stack, "(555) 555-5555", "US", "typed-us")
    stack.shop.ship_order(order.external_id, company="UPS", number="1Z999", url="https://ups.example/t")

    [row] = settled(stack, "order_shipped")
    assert row.status == "skipped"
    assert row.reason == "unusable phone number: (555) 555-5555 is not a valid phone number in US"
    with stack.runtime.db.session() as session:
        [flagged] = session.scalars(select(Contact).where(Contact.phone_problem.is_not(None))).all()
        assert flagged.phone_problem == "(555) 555-5555 is not a valid phone number in US"
        # no phone to fall back on, and an id that is no WhatsApp number
        assert flagged.phone is None and flagged.channel_user_id == "unusable:5555555555"
    # Not "+5555555555", nor any other guess: the Graph sandbox received no send at all.
    assert stack.graph.stats()["whatsapp"]["accepted"] == 0
    assert rows(stack, recipient="5555555555") == []
