"""The [chat] section of the configuration file (validated at start-up with the rest of the config)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ChatSettings(BaseModel):
    """Settings of the conversation engine (``[chat]``). Every field has a default; see docs/chat.md."""

    model_config = ConfigDict(extra="forbid")

    #: Answer customers at all. False leaves inbound messages stored but unanswered (another tool answers them).
    enabled: bool = True
    #: The shop's language: used when neither the contact's locale nor their first message says one we speak
    #: ("en", "de", "fr", "es", "it", "nl" or "pt_BR").
    default_language: Literal["en", "de", "fr", "es", "it", "nl", "pt_BR"] = "en"
    #: Time zone of the dates the bot writes (order dates), an IANA name such as ``Europe/Berlin``.
    time_zone: str = "UTC"
    #: Extra template folders searched first (after plugins' folders): override any chat text without code.
    template_dirs: list[str] = Field(default_factory=list)
    #: How long the bot stays silent after a customer asked for a person.
    handoff_silence_minutes: int = Field(120, ge=1, le=7 * 24 * 60)
    #: Who is told about a handoff by email (empty: no email). Needs the smtp_* settings.
    owner_email: str = ""
    smtp_host: str = "localhost"
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    #: Sender address of handoff emails.
    smtp_from: str = "chatshop-connector@localhost"
    #: Outbound webhook told about a handoff with a JSON POST (empty: none).
    owner_webhook_url: str = ""
    #: Products per product list message (WhatsApp allows 30); more are paged.
    products_per_page: int = Field(30, ge=1, le=30)
    #: Rows per list message when browsing collections or search results on WhatsApp (at most 10, one is "More").
    rows_per_page: int = Field(9, ge=1, le=9)
    #: Recent orders shown under "My orders".
    recent_orders: int = Field(5, ge=1, le=10)
    #: A second identical cart from the same contact within this time is a double tap: no second order.
    duplicate_cart_minutes: int = Field(10, ge=0, le=24 * 60)
    #: How long an unfinished flow (address change, cart confirmation) waits for the next answer.
    flow_timeout_minutes: int = Field(30, ge=1, le=24 * 60)
    #: Seconds one contact's conversation is locked while a message is handled (a crashed worker frees it after this).
    contact_lock_seconds: int = Field(60, ge=5, le=600)
    #: Mark each customer message read (blue ticks) as soon as the bot starts on it, where the channel can (WhatsApp).
    read_receipts: bool = True
    #: Show "typing…" while an answer takes longer than typing_after_seconds (needs read_receipts).
    typing_indicator: bool = True
    #: Seconds the bot may take before the customer sees the typing indicator (0: show it at once).
    typing_after_seconds: float = Field(1.0, ge=0, le=20)
    #: Collect addresses (and, with checkout_form, checkout details) in a WhatsApp Flow where the number has Flows:
    #: one form message instead of a step-by-step dialogue. Elsewhere the dialogue stays.
    flows: bool = True
    #: Answer a cart with a checkout form (delivery method, notes, terms and marketing consent) before the order is
    #: placed; needs flows. Off: a cart becomes the order at once.
    checkout_form: bool = False
    #: The delivery methods the checkout form offers (the first is preselected).
    delivery_methods: list[str] = Field(default_factory=lambda: ["Standard", "Express"], min_length=1, max_length=20)
    #: Show 2-10 found products as a swipeable product carousel on WhatsApp instead of a product list.
    carousels: bool = True
