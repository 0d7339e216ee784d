"""Asking a customer WhatsApp knows to us only by a business-scoped user id for their phone number.

Interactive ``request_contact_info`` (renamed from ``contact_request`` on 2026-05-28, platform-changes-2026.md §5):
one tap shares the number, which arrives as a ``contacts`` message with ``origin: "contact_request"`` and is then
stored on the contact (:mod:`connector_whatsapp.inbound`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from connector import model


@dataclass(frozen=True, slots=True)
class ContactInfoRequest(model.Outbound):
    """ "Share your phone number" with WhatsApp's one-tap button under ``body`` (at most 1,024 characters)."""

    body: str
    footer: str = ""


def render(message: ContactInfoRequest) -> dict[str, Any]:
    """The ``interactive`` object of a :class:`ContactInfoRequest`."""
    content: dict[str, Any] = {"type": "request_contact_info", "body": {"text": message.body}}
    if message.footer:
        content["footer"] = {"text": message.footer}
    content["action"] = {"name": "request_contact_info"}
    return content
