"""What identifies a person in a raw payload: phone numbers (channel user ids are numbers too) and e-mail addresses.

Stored webhook payloads are encrypted, so they cannot be searched. Instead each payload keeps the keyed hashes
(blind index, :meth:`connector.secrets.SecretBox.blind_index`) of the identifiers found in it, and erasure and
export look a contact's identifiers up there. A phone number is indexed by its last nine digits, so
``+49 151 12345678``, ``004915112345678`` and ``015112345678`` all find the same person.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from connector.secrets import SecretBox

_NUMBER = re.compile(r"\+?\d[\d \-/().]*\d")
#: The same runs in an ASCII payload (most webhooks), found in its bytes: a sign changes no term (only digits do), and
#: this pattern scans a webhook three to four times faster than decoding it and looking for ``_NUMBER``.
_ASCII_NUMBER = re.compile(rb"[0-9][0-9 ()./-]*[0-9]")
_EMAIL = re.compile(r"[\w.%+\-]+@[\w\-]+(?:\.[\w\-]+)*\.[A-Za-z]{2,}")
#: Shorter digit runs (quantities, prices, postcodes) identify nobody.
MIN_DIGITS = 6
TAIL = 9


_NON_DIGIT = re.compile(r"\D")


def phone_term(value: str) -> str | None:
    """The index term of a phone number or numeric user id, ``None`` if it has too few digits."""
    number = value if value.isdigit() else _NON_DIGIT.sub("", value)
    if len(number) < MIN_DIGITS:
        return None
    return "p:" + number[-TAIL:]


def email_term(value: str) -> str:
    return "e:" + value.strip().lower()


def terms_in(body: bytes) -> set[str]:
    """Every identifier term in a raw payload (JSON, form-encoded or text alike)."""
    if body.isascii():
        if b"%" in body:  # form-encoded: a "+" or "@" written as %2B / %40
            body = body.replace(b"%2B", b"+").replace(b"%40", b"@")
        terms = {term for number in set(_ASCII_NUMBER.findall(body)) if (term := phone_term(number.decode()))}
        if b"@" not in body:
            return terms
        text = body.decode()
    else:  # digits of other scripts count too
        text = body.decode("utf-8", "replace").replace("%2B", "+").replace("%40", "@")
        terms = {term for number in set(_NUMBER.findall(text)) if (term := phone_term(number))}
    terms.update(email_term(address) for address in _EMAIL.findall(text))
    return terms


def subjects(box: SecretBox, body: bytes | None) -> str:
    """The blind index of a payload as stored: `` h1 h2 … `` (space-delimited, for a ``LIKE '% h %'`` match)."""
    if not body:
        return ""
    hashes = sorted({box.blind_index(term) for term in terms_in(body)})
    return f" {' '.join(hashes)} " if hashes else ""


def person_terms(phones: Iterable[str | None], emails: Iterable[str | None]) -> set[str]:
    """The index terms of one person's known phone numbers / user ids and e-mail addresses."""
    terms = {term for phone in phones if phone and (term := phone_term(phone))}
    terms.update(email_term(email) for email in emails if email and "@" in email)
    return terms


def emails_in(value: Any) -> set[str]:
    """E-mail addresses anywhere in a JSON-like value (a cart, an address)."""
    return {match.group() for match in _EMAIL.finditer(repr(value))}
