"""Phone numbers as customers type them into shop checkouts, read into E.164 or refused, never guessed.

A checkout field holds whatever the customer typed: ``(555) 555-5555``, ``0151 1234567``, ``+49 151 1234567``,
``0049151...``. Only a number written internationally (``+`` or ``00``) says its country; a national one is
read with the order's country (billing address, else shipping address). A number that does not parse, is not
a valid number of that country, or is national with no country to read it by is *unusable*: the contact is
flagged with the reason and nothing is sent to it. Reading a national number with some default country would
message a stranger.
"""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers

#: Longest text worth parsing (E.164 has at most 15 digits; room for spaces, brackets and an extension).
MAX_INPUT = 64


@dataclass(frozen=True, slots=True)
class PhoneReading:
    """What a typed phone number is: ``e164`` (``+4915112345678``) when usable, else ``problem`` says why."""

    e164: str | None
    problem: str | None = None

    @property
    def digits(self) -> str:
        """The E.164 number without ``+``: WhatsApp's ``wa_id``."""
        return (self.e164 or "").lstrip("+")


def _country(code: str | None) -> str | None:
    code = (code or "").strip().upper()
    return code if len(code) == 2 and code.isalpha() and code in phonenumbers.SUPPORTED_REGIONS else None


def read_phone(typed: str | None, country: str | None) -> PhoneReading:
    """``typed`` as E.164, reading a national number with ``country`` (ISO 3166-1 alpha-2), or why not.

    >>> read_phone("(555) 555-5555", None).problem
    'national number (555) 555-5555: no country is named to read it with'
    >>> read_phone("0151 1234567", "DE").e164
    '+491511234567'
    """
    text = " ".join((typed or "").split())
    if not text:
        return PhoneReading(None, "no phone number")
    if len(text) > MAX_INPUT:
        return PhoneReading(None, f"phone number too long to be one ({len(text)} characters)")
    region = _country(country)
    international = text.startswith(("+", "00"))
    if not international and region is None:
        named = f" it names ({country}) is unknown" if country else " is named"
        return PhoneReading(None, f"national number {text}: no country{named} to read it with")
    try:
        # "00" is the international prefix of most countries; "+" is what the parser reads without a region.
        written = "+" + text[2:] if text.startswith("00") else text
        number = phonenumbers.parse(written, None if international else region)
    except phonenumbers.NumberParseException as exc:
        return PhoneReading(None, f"{text} is not a phone number ({exc})")
    if not phonenumbers.is_valid_number(number):
        # (an invalid number has no region of its own: name the main country of its calling code)
        where = phonenumbers.region_code_for_country_code(number.country_code or 0) if international else region
        known = where and where != phonenumbers.UNKNOWN_REGION
        return PhoneReading(None, f"{text} is not a valid phone number in {where if known else 'any country'}")
    return PhoneReading(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
