"""WhatsApp pricing since 2026-10-01 over real HTTP (Graph sandbox): service replies and in-window utility
templates cost the market's utility rate, the free entry point stays free, chat replies count toward the daily
budget but always go, and a message is priced by the rate card in force on the day it was sent."""

from __future__ import annotations

from datetime import UTC, datetime

from connector.conversation.outbox import KIND as CHAT_REPLY
from connector.db.models import Contact, OutboundMessage
from connector.notify import pricing
from connector.notify.settings import NotifySettings, RateCard
from tests.conftest import Stack, wait_for
from tests.notify.conftest import StackFactory, customer, place_order, rows, settled

AD = {"source_type": "ad", "source_url": "https://fb.me/ad1", "source_id": "120000001", "headline": "Winter sale"}


def _replies(stack: Stack, phone: str) -> list[OutboundMessage]:
    """The chat replies to ``phone``, once every one of them has its status webhook's pricing."""

    def priced() -> list[OutboundMessage] | None:
        found = rows(stack, kind=CHAT_REPLY, recipient=phone)
        done = found and all(r.status in ("sent", "delivered", "read") and r.billed_category for r in found)
        return found if done else None

    return wait_for(priced)


def test_a_chat_reply_costs_the_utility_rate_and_meta_reports_it_billed(notify_stack: StackFactory) -> None:
    stack = notify_stack()
    phone = "4915100000011"
    stack.graph.customer_text(None, phone, "Hallo!")

    replies = _replies(stack, phone)
    for reply in replies:
        assert reply.category == "service" and reply.country == "DE" and reply.outside_window is False
        assert reply.cost == 0.055 and reply.currency == "EUR"  # Germany's utility rate
        # What the sandbox reported, in Meta's v24+ shape: billed, per message, as a service message.
        assert (reply.billed_category, reply.billed_type, reply.billable, reply.pricing_model) == (
            "service",
            "regular",
            True,
            "PMP",
        )


def test_replies_always_go_and_count_while_notifications_wait_for_the_next_day(notify_stack: StackFactory) -> None:
    stack = notify_stack(daily_budget=0.06)
    writer, silent = "4915100000021", "4915100000022"
    customer(stack, silent)
    stack.graph.customer_text(None, writer, "Hallo!")
    replies = _replies(stack, writer)
    spent = sum(r.cost or 0.0 for r in replies)
    assert spent >= 0.055  # counted toward today's budget

    order = place_order(stack, silent, "budget-after-chat")
    stack.shop.ship_order(order.external_id, company="DHL", number="TRK22", url="https://dhl.example/t")
    [shipped] = settled(stack, "order_shipped")
    # 0.055 spent on the chat + 0.055 for the template > 0.06: the notification waits, nothing is dropped.
    assert shipped.status == "deferred" and shipped.reason == "daily budget of 0.06 reached"
    assert shipped.deferred_until is not None and shipped.deferred_until.hour == 0

    # Over budget now, the customer writes again: the answer still goes, and counts.
    before = len(rows(stack, kind=CHAT_REPLY, recipient=writer))
    stack.graph.customer_text(None, writer, "Noch eine Frage")
    wait_for(lambda: len(rows(stack, kind=CHAT_REPLY, recipient=writer)) > before)
    later = _replies(stack, writer)[before:]
    assert later and all(r.status in ("sent", "delivered", "read") and r.cost == 0.055 for r in later)
    assert stack.graph.messages_to(silent) == []


def test_inside_a_free_entry_point_every_message_is_free(notify_stack: StackFactory) -> None:
    stack = notify_stack()
    phone = "4915100000031"
    stack.graph.customer_text(None, phone, "I saw your ad", referral=AD)

    replies = _replies(stack, phone)
    for reply in replies:
        assert reply.cost == 0.0 and reply.category == "service"
        assert (reply.billed_category, reply.billed_type, reply.billable) == (
            "referral_conversion",
            "free_entry_point",
            False,
        )
    # A notification inside the same 72 hours is free too.
    customer(stack, phone)
    order = place_order(stack, phone, "entry-point")
    stack.shop.ship_order(order.external_id, company="DHL", number="TRK31", url="https://dhl.example/t")
    [shipped] = settled(stack, "order_shipped")
    assert shipped.cost == 0.0


def test_a_product_question_is_no_entry_point(notify_stack: StackFactory) -> None:
    """Only an ad or post opens the free entry point; a question from a catalog item is an ordinary chat."""
    stack = notify_stack()
    stack.full_sync()
    phone = "4915100000041"
    retailer_id = next(iter(stack.catalog()))
    stack.graph.customer_text(None, phone, "Is this in stock?", referred_product=retailer_id)
    replies = _replies(stack, phone)
    assert all(r.cost == 0.055 and r.billed_category == "service" and r.billable is True for r in replies)


def test_the_rate_card_in_force_on_the_day_prices_the_message() -> None:
    settings = NotifySettings()
    september = datetime(2026, 9, 30, 23, 59, tzinfo=UTC)
    october = datetime(2026, 10, 1, 0, 0, tzinfo=UTC)
    # Service reply in the window: free in September, the utility rate from October.
    assert pricing.estimate(settings, "service", "DE", inside_window=True, at=september) == 0.0
    assert pricing.estimate(settings, "service", "DE", inside_window=True, at=october) == 0.055
    # A utility template in the window likewise; outside it, it always cost.
    assert pricing.estimate(settings, "utility", "GB", inside_window=True, at=september) == 0.0
    assert pricing.estimate(settings, "utility", "GB", inside_window=True, at=october) == 0.022
    assert pricing.estimate(settings, "utility", "GB", inside_window=False, at=september) == 0.022
    # Marketing is never free in the window; the free entry point always is.
    assert pricing.estimate(settings, "marketing", "DE", inside_window=True, at=september) == 0.1365
    assert pricing.estimate(settings, "marketing", "DE", inside_window=False, at=october, entry_point=True) == 0.0


def test_own_rate_cards_apply_from_their_date() -> None:
    cards = [
        RateCard(effective_from=datetime(2026, 10, 1).date(), prices={"utility": {"KW": 0.03, "default": 0.02}},
                 service_priced_as="utility"),
        RateCard(effective_from=datetime(2025, 7, 1).date(), prices={"utility": {"default": 0.01}},
                 free_inside_window=["service", "utility"]),
    ]  # fmt: skip
    settings = NotifySettings(rate_cards=cards)
    assert [c.effective_from.month for c in settings.rate_cards] == [7, 10]  # sorted by date
    assert pricing.estimate(settings, "service", "KW", inside_window=True, at=datetime(2026, 10, 5, tzinfo=UTC)) == 0.03
    assert pricing.estimate(settings, "utility", "KW", inside_window=False, at=datetime(2026, 8, 1, tzinfo=UTC)) == 0.01


def test_september_rows_keep_their_price_in_the_daily_report(notify_stack: StackFactory, api_client) -> None:  # type: ignore[no-untyped-def]
    """Reports of September stay right: a stored September reply keeps its price (free) and the price of what Meta
    reported is taken from September's card, while an October reply costs the utility rate."""
    stack = notify_stack()
    with stack.runtime.db.session() as session:
        contact = Contact(
            channel_connection_id=stack.channel_id, channel_user_id="4915100000051", phone="4915100000051"
        )
        session.add(contact)
        session.flush()
        for day, cost, billed_type, billable in (
            (datetime(2026, 9, 30, 12, tzinfo=UTC), 0.0, "free_customer_service", False),
            (datetime(2026, 10, 1, 12, tzinfo=UTC), 0.055, "regular", True),
        ):
            session.add(
                OutboundMessage(
                    channel_connection_id=stack.channel_id, contact_id=contact.id, recipient=contact.phone,
                    kind=CHAT_REPLY, payload={}, idempotency_key=f"history:{day.date()}", status="read",
                    sent_at=day, category="service", country="DE", cost=cost, currency="EUR",
                    outside_window=False, billed_category="service", billed_type=billed_type, billable=billable,
                    pricing_model="PMP",
                )
            )  # fmt: skip
    days = {d["day"]: d for d in api_client(stack).get("/api/v1/notifications/costs?days=366").json()["days"]}
    assert days["2026-09-30"]["estimate"] == 0.0 and days["2026-09-30"]["reported"] == 0.0
    assert days["2026-10-01"]["estimate"] == 0.055 and days["2026-10-01"]["reported"] == 0.055
    assert days["2026-10-01"]["difference"] == 0.0


def test_before_the_cut_over_the_sandbox_reports_in_window_messages_free(notify_stack: StackFactory) -> None:
    """The sandbox's cut-over is a setting (Meta's post-change example is not published): before it, a service
    reply is ``free_customer_service`` and not billable, as in the per-message pricing of 2025."""
    stack = notify_stack()
    stack.graph.set_options(service_billing_from=stack.graph.now() + 86400)
    phone = "4915100000061"
    stack.graph.customer_text(None, phone, "Hallo!")
    for reply in _replies(stack, phone):
        assert (reply.billed_category, reply.billed_type, reply.billable) == ("service", "free_customer_service", False)


def test_a_card_pricing_service_by_a_category_it_lacks_is_refused() -> None:
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="service_priced_as 'utility' has no prices"):
        RateCard(effective_from=datetime(2026, 10, 1).date(), prices={"marketing": {"default": 0.06}},
                 service_priced_as="utility")  # fmt: skip
