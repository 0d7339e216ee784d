"""The [notify] section of the configuration file (validated at start-up with the rest of the config).

Example::

    [notify]
    daily_budget = 25.0                 # per channel connection, in rate_card_currency
    reach_limit = 2000                  # 250 | 2000 | 10000 | 100000 | 0 (unlimited)
    messages_per_second = 80            # per phone number, up to 1,000
    back_in_stock_factor = 3.0          # a wave tells at most stock x 3 subscribers
    back_in_stock_category = "marketing"

    [notify.templates.order_shipped]
    de = "versand_info"                 # approved template name per language
    en = "order_shipped"

    [notify.template_headers]
    back_in_stock = "image"             # this template's header is the variant's image

    [notify.rate_card.marketing]
    DE = 0.1365
    default = 0.05

    [[notify.rate_cards]]               # dated rate cards: a message is priced by the card in force when sent
    effective_from = 2026-10-01
    free_inside_window = []             # nothing is free in the 24-hour window any more ...
    service_priced_as = "utility"       # ... and service replies cost the market's utility rate
    [notify.rate_cards.prices.utility]
    DE = 0.0550
    default = 0.02
"""

from __future__ import annotations

from datetime import date
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: Notification kinds the connector sends.
KINDS = (
    "order_confirmed",
    "order_shipped",
    "order_out_for_delivery",
    "order_delayed",
    "order_delivery_failed",
    "order_delivered",
    "back_in_stock",
    "checkout_recovery",
)

#: The reach tiers WhatsApp knows (0 = unlimited).
REACH_TIERS = (250, 2000, 10000, 100000, 0)


def _default_rate_card() -> dict[str, dict[str, float]]:
    # Illustrative per-message prices in EUR (Meta's rate card, mid 2025); set your own from Meta's pricing page.
    return {
        "marketing": {"DE": 0.1365, "AT": 0.1365, "CH": 0.1365, "GB": 0.0705, "US": 0.025, "default": 0.06},
        "utility": {"DE": 0.0550, "AT": 0.0550, "CH": 0.0550, "GB": 0.0220, "US": 0.004, "default": 0.02},
        "authentication": {"default": 0.03},
        "service": {"default": 0.0},
    }


#: When WhatsApp started billing service replies and in-window utility templates (at the utility rate).
SERVICE_BILLING_FROM = date(2026, 10, 1)
#: When per-message pricing started (in-window utility templates and service replies free).
PER_MESSAGE_PRICING_FROM = date(2025, 7, 1)


class RateCard(BaseModel):
    """One of Meta's rate cards: its prices and the rules of its time, in force from ``effective_from`` (UTC)
    until the next card's date."""

    model_config = ConfigDict(extra="forbid")

    #: First UTC day this card prices.
    effective_from: date
    #: Price per delivered message by pricing category and recipient country (ISO code, or ``default``).
    prices: dict[str, dict[str, float]]
    #: Categories that cost nothing inside the customer's 24-hour window (``service``, ``utility`` before
    #: 2026-10-01; none since).
    free_inside_window: list[str] = Field(default_factory=list)
    #: Service (free-form) messages are priced at this category's rate (``utility`` since 2026-10-01); ``None``
    #: prices them by the card's own ``service`` row.
    service_priced_as: str | None = None

    @model_validator(mode="after")
    def _priced_category(self) -> Self:
        if self.service_priced_as is not None and self.service_priced_as not in self.prices:
            raise ValueError(f"service_priced_as {self.service_priced_as!r} has no prices on this card")
        return self


def default_rate_cards(prices: dict[str, dict[str, float]]) -> list[RateCard]:
    """Meta's two rate-card regimes with ``prices``: per-message pricing from 2025-07-01 (service and in-window
    utility free) and, from 2026-10-01, service and in-window utility billed at the utility rate."""
    return [
        RateCard(
            effective_from=PER_MESSAGE_PRICING_FROM,
            prices=prices,
            free_inside_window=["service", "utility"],
        ),
        RateCard(effective_from=SERVICE_BILLING_FROM, prices=prices, service_priced_as="utility"),
    ]


def _default_templates() -> dict[str, dict[str, str]]:
    # The sandbox's approved templates; a real number needs the names approved in WhatsApp Manager.
    return {"order_shipped": {"en": "order_shipped"}}


#: ``back_in_stock`` carries the variant's image by default.
_DEFAULT_TEMPLATE_HEADERS: dict[str, Literal["image"]] = {"back_in_stock": "image"}


class NotifySettings(BaseModel):
    """Settings of this subsystem. Every field needs a default, a type and a comment saying what it does."""

    model_config = ConfigDict(extra="forbid")

    #: Send shipping-status notifications from order events.
    shipping_enabled: bool = True
    #: Send back-in-stock notifications when a subscribed variant's stock goes from 0 to above 0.
    back_in_stock_enabled: bool = True
    #: Language used when a contact has no locale we speak (``en``, ``de``, ``fr``, ``es``, ``it``, ``nl``,
    #: ``pt_BR``; any other language with owner templates works too).
    default_language: str = "en"
    #: Approved WhatsApp template per notification kind and language, used outside the 24-hour window.
    #: A kind/language without a template is skipped outside the window (with the reason recorded).
    templates: dict[str, dict[str, str]] = Field(default_factory=_default_templates)
    #: Media header of an approved template, by template name: ``image`` sends the variant's image (back-in-stock;
    #: a notification without an image is skipped). Templates not listed have no header variable.
    template_headers: dict[str, Literal["image"]] = Field(default_factory=lambda: dict(_DEFAULT_TEMPLATE_HEADERS))
    #: Templates, by name, whose order total (``order_confirmed``'s ``{{3}}``) is a currency parameter, not text.
    currency_templates: list[str] = Field(default_factory=list)
    #: Approved product-card carousel template (MARKETING, with a CAROUSEL of product cards) per kind and language,
    #: sent outside the window instead of ``templates`` when the message has several products to show (a checkout
    #: reminder for a cart of 2 or more products: each card one product of the cart, sold-out ones left out). Its
    #: body takes the kind's usual parameters. None by default: such carts get the kind's one template.
    carousel_templates: dict[str, dict[str, str]] = Field(default_factory=dict)
    #: Template language codes as WhatsApp spells them, per language (``en`` -> ``en_US``).
    template_languages: dict[str, str] = Field(
        default_factory=lambda: {
            "en": "en_US",
            "de": "de",
            "fr": "fr",
            "es": "es",
            "it": "it",
            "nl": "nl",
            "pt_BR": "pt_BR",
        }
    )
    #: Messenger utility template (approved on the Facebook Page) per order-update kind and language, sent outside
    #: the 24-hour window since Meta refuses the POST_PURCHASE_UPDATE tag (2026-04-27). None by default: outside
    #: the window Messenger order updates are skipped with the reason until the owner names approved ones.
    messenger_utility_templates: dict[str, dict[str, str]] = Field(default_factory=dict)
    #: Countries (ISO codes) where Messenger utility messages are available (open beta: US, VN, TH, PH). The
    #: customer's country is the order's (billing, else shipping); anywhere else the update is skipped.
    messenger_utility_markets: list[str] = Field(default_factory=lambda: ["US", "VN", "TH", "PH"])
    #: Price per delivered message by pricing category and recipient country (ISO code, or ``default``).
    #: Price per delivered message by pricing category and recipient country (ISO code, or ``default``): the
    #: prices of both default ``rate_cards`` when those are not set.
    rate_card: dict[str, dict[str, float]] = Field(default_factory=_default_rate_card)
    #: Dated rate cards (prices and in-window rules); a message is priced by the card in force on the UTC day it
    #: was sent. Default: ``rate_card`` under the 2025-07-01 rules and under the 2026-10-01 rules.
    rate_cards: list[RateCard] = Field(default_factory=list)
    #: Hours after a customer wrote from a Click-to-WhatsApp ad (a referral with ``source_type`` ad / post) in
    #: which every message is free (Meta's free entry point; 0 = never free).
    free_entry_point_hours: float = Field(72.0, ge=0)
    #: Currency of the rate card and the budget.
    rate_card_currency: str = "EUR"
    #: Most a channel connection may spend per UTC day (notifications and chat replies); ``0`` = no budget.
    #: Chat replies always go and count toward it; notifications over it are deferred to the next day, not dropped.
    daily_budget: float = Field(0.0, ge=0)
    #: Unique users a portfolio may reach outside the 24-hour window per moving 24 hours (WhatsApp's messaging
    #: limit): 250, 2000, 10000, 100000, or 0 for unlimited. The excess is deferred. Used until the channel
    #: reports the portfolio's limit (Graph API field or ``business_capability_update``), which then wins.
    reach_limit: int = 250
    #: Messages per second per phone number (WhatsApp: 80 by default, up to 1,000 after Meta's upgrade).
    messages_per_second: float = Field(80.0, gt=0, le=1000)
    #: Messages to one recipient per ``pair_window_seconds`` (pacing against error 131056).
    pair_limit: int = Field(10, ge=1)
    pair_window_seconds: float = Field(60.0, gt=0)
    #: Where rate-limit counters live: ``memory`` (one process) or ``database`` (shared by every process).
    rate_limit_storage: Literal["memory", "database"] = "memory"
    #: A back-in-stock wave notifies at most ``stock x factor`` subscribers (first come, first served).
    back_in_stock_factor: float = Field(3.0, gt=0)
    #: Pricing category of back-in-stock messages: ``marketing`` (Meta's rule) or ``utility`` (tied to an order).
    back_in_stock_category: Literal["marketing", "utility"] = "marketing"
    #: A coupon code the back-in-stock template's copy-code button carries (the approved template must have a
    #: COPY_CODE button as its first button; URL buttons follow). Empty: none. At most 15 characters (WhatsApp).
    back_in_stock_coupon_code: str = Field("", max_length=15, pattern=r"^[^\s]*$")
    #: Hours a back-in-stock offer runs: > 0 sends the template as a limited-time offer expiring that long after the
    #: send (the approved MARKETING template must have a LIMITED_TIME_OFFER component with an expiration). 0: none.
    back_in_stock_offer_hours: float = Field(0.0, ge=0, le=24 * 30)
    #: A back-in-stock subscription ends after this many days without a notification.
    back_in_stock_expiry_days: int = Field(90, ge=1)
    #: Seconds between back-in-stock waves while stock remains and subscribers wait.
    back_in_stock_wave_interval_seconds: int = Field(300, ge=1)
    #: Minutes between polls of orders still in flight (the reconcile that catches missed shop webhooks).
    reconcile_interval_minutes: int = Field(30, ge=1)
    #: Orders older than this are no longer polled.
    reconcile_max_age_days: int = Field(30, ge=1)
    #: A send whose outcome is unknown (the process died mid-send) waits for the channel's status webhooks:
    #: it is sent again once every webhook received is processed and either a status came for a message sent
    #: after it (the stream passed it) or none settled it within 10x this many seconds; while the channel's
    #: webhooks keep coming but still owe a later message's status, it waits up to 1,000x this.
    unknown_grace_seconds: float = Field(600.0, ge=0)
    #: How many times a refused send is retried before it is marked failed.
    max_send_attempts: int = Field(8, ge=1)
    #: A send refused because the channel's setup is broken (token expired or revoked, permission or payment
    #: missing) is kept and tried again every this many seconds (the channel's other sends wait as long) ...
    setup_retry_seconds: float = Field(300.0, gt=0)
    #: ... until the owner fixed the setup, for at most this many hours after it was queued; then it is failed.
    setup_retry_hours: float = Field(72.0, gt=0)
    #: A folder of owner templates searched before plugins' and the built-in ones (``<kind>/<channel>.<lang>.j2``).
    template_dir: str | None = None
    #: Requests per minute per client address to the public endpoints (back-in-stock, the widget's opt-in).
    public_subscribe_per_minute: int = Field(10, ge=1)
    #: Requests per hour per phone number to the public endpoints (whoever sends them).
    public_requests_per_phone_per_hour: int = Field(5, ge=1)
    #: Hours a web opt-in or back-in-stock subscription waits for the customer's confirmation on the channel.
    double_opt_in_expiry_hours: float = Field(48.0, gt=0)
    #: The consent text shown next to the checkbox of the public endpoint (stored as proof with each opt-in).
    public_consent_text: str = (
        "Yes, I want a WhatsApp message when this product is back in stock. I can reply STOP at any time."
    )

    #: After a 131049 (per-user marketing limit or the US block) no marketing goes to that customer for this many
    #: hours: Meta may block the account from marketing a user it resends to within 24 h (since 2026-04-30).
    marketing_pause_hours: float = Field(24.0, ge=24)
    #: Marketing templates to US (+1) numbers are skipped with the reason: WhatsApp does not deliver them (131049).
    block_us_marketing_templates: bool = True
    #: Error codes of failed status webhooks that mark the contact unreachable (the next notification is skipped
    #: saying why): not on WhatsApp / old app (131026), part of an experiment (130472), country restriction
    #: (130497), sender = recipient (131021).
    undeliverable_codes: list[int] = Field(default_factory=lambda: [131026, 130472, 130497, 131021])
    #: An unreachable mark holds this many days (or until the customer writes to us); then notifications try again.
    unreachable_hold_days: float = Field(30.0, gt=0)
    #: Minutes between reads of each WhatsApp number's portfolio messaging limit from the Graph API.
    messaging_limit_refresh_minutes: int = Field(360, ge=1)

    #: The per-user marketing frequency cap: at most this many marketing messages per customer (back-in-stock,
    #: checkout recovery and campaigns together) in ``marketing_cap_days``; more are skipped with the reason.
    #: ``0`` = no cap.
    marketing_cap_messages: int = Field(2, ge=0)
    #: The moving window of the frequency cap, in days.
    marketing_cap_days: float = Field(7.0, gt=0)
    #: Remind customers of checkouts and chat orders left unpaid (marketing: needs their marketing opt-in).
    recovery_enabled: bool = True
    #: Minutes after the checkout's last change before the first reminder.
    recovery_delay_minutes: float = Field(60.0, ge=0)
    #: Reminders per abandoned checkout (1 or 2).
    recovery_reminders: int = Field(1, ge=1, le=2)
    #: Hours between the first and the second reminder.
    recovery_spacing_hours: float = Field(24.0, ge=0)
    #: A checkout paid within this many days after a reminder counts as recovered, with its revenue.
    recovery_attribution_days: float = Field(7.0, gt=0)
    #: Minutes between reads of each shop's open checkouts (Shopify's ``abandonedCheckouts`` query), which catch
    #: checkouts whose webhooks were missed.
    recovery_poll_minutes: int = Field(15, ge=1)
    #: No marketing message is sent between these local times of the customer (``HH:MM``; the window may span
    #: midnight); one due then waits until the end. Equal times = no quiet hours.
    quiet_hours_start: str = "21:00"
    quiet_hours_end: str = "09:00"
    #: The shop's time zone (IANA name): the customer's when their phone number's country spans several zones or
    #: none is known.
    shop_time_zone: str = "Europe/Berlin"

    @field_validator("quiet_hours_start", "quiet_hours_end")
    @classmethod
    def _clock(cls, value: str) -> str:
        hours, sep, minutes = value.partition(":")
        if not (sep and hours.isdigit() and minutes.isdigit() and int(hours) < 24 and int(minutes) < 60):
            raise ValueError("must be a local time HH:MM (00:00-23:59)")
        return f"{int(hours):02d}:{int(minutes):02d}"

    @field_validator("shop_time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as Europe/Berlin)") from exc
        return value

    #: Days after a chat touch (a campaign, a reminder, an alert, a shipping update, the customer's own message)
    #: within which a paid order is credited to it (the last touch wins).
    attribution_window_days: float = Field(7.0, gt=0)
    #: Send a ``Purchase`` event to Meta's Conversions API for business messaging when a customer who came from a
    #: click-to-WhatsApp ad pays (needs the WhatsApp connection's dataset id and token).
    conversions_api_enabled: bool = False
    #: Send a stable ``event_id`` (``order:<shop id>:<order id>``) with each Conversions API event, so a send repeated
    #: after a crash between Meta's acceptance and our record can be de-duplicated by Meta. Off by default: the
    #: reference (platform-changes-2026.md §10) shows the business-messaging payload without it, and whether Meta
    #: accepts and de-duplicates ``event_id`` there is not established (docs/selling.md).
    conversions_api_event_id: bool = False

    @model_validator(mode="after")
    def _dated_cards(self) -> Self:
        if not self.rate_cards:
            self.rate_cards = default_rate_cards(self.rate_card)
        self.rate_cards.sort(key=lambda card: card.effective_from)
        return self

    @field_validator("reach_limit")
    @classmethod
    def _tier(cls, value: int) -> int:
        if value not in REACH_TIERS:
            raise ValueError(f"must be one of {', '.join(str(t) for t in REACH_TIERS)} (0 = unlimited)")
        return value

    @field_validator("templates", "messenger_utility_templates")
    @classmethod
    def _kinds(cls, value: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        unknown = sorted(set(value) - set(KINDS))
        if unknown:
            raise ValueError(f"unknown notification kind(s) {', '.join(unknown)}; known: {', '.join(KINDS)}")
        return value
