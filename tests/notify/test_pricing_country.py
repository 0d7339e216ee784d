"""The recipient's country, which picks the rate-card price of every business-initiated message."""

from __future__ import annotations

import random

import phonenumbers
import pytest

from connector.notify.pricing import country_of


def parsed_region(phone: str) -> str | None:
    """What a full ``phonenumbers`` parse says (``country_of``'s contract)."""
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(phone if phone.startswith("+") else f"+{phone}"))
    except phonenumbers.NumberParseException:
        return None


@pytest.mark.parametrize(
    ("phone", "country"),
    [
        ("4915112345678", "DE"),
        ("+4915112345678", "DE"),
        ("436641234567", "AT"),
        ("41791234567", "CH"),
        ("12125551234", "US"),  # +1 is shared: the area code decides
        ("14165551234", "CA"),
        ("442071234567", "GB"),  # +44 is shared with Jersey, Guernsey and the Isle of Man
        ("447797123456", "JE"),
        ("+49 151 1234 5678", "DE"),  # formatted numbers take the full parse
        ("", None),
        (None, None),
        ("0151123456", None),  # a national number has no country
        ("999123456", None),  # no such calling code
        ("49", None),  # too short to be a number
    ],
)
def test_country_of_named_numbers(phone: str | None, country: str | None) -> None:
    assert country_of(phone) == country


def test_country_of_agrees_with_a_full_parse_on_random_numbers() -> None:
    rng = random.Random(20261122)
    codes = [str(code) for code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE] + ["0", "42", "999"]
    for _ in range(20_000):
        number = rng.choice(["", "0"]) + rng.choice(codes) + "".join(rng.choices("0123456789", k=rng.randint(0, 19)))
        number = rng.choice(["", "+"]) + number
        assert country_of(number) == parsed_region(number), number
