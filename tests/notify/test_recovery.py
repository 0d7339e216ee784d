"""Checkout recovery over real HTTP: shop sandbox webhooks -> connector -> WhatsApp (Graph sandbox).

Orders a shop leaves waiting for payment (here WooCommerce ``pending``) get one reminder with the items, the total
and the payment link after the configured delay (0 minutes here: the delay is a setting, never slept), only with
marketing consent, never in the customer's quiet hours, never after payment or a newer order, within the
frequency cap; a payment after a reminder counts as recovered, with its revenue.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import requests
from requests_oauthlib import OAuth1

from connector import model
from connector.dashboard.users import create_user
from connector.db.models import OutboundMessage
from connector.notify import frequency, recovery
from tests.conftest import WAIT_BOUND, Stack, wait_for
from tests.notify.conftest import ApiClient, StackFactory, customer, place_order, rows, settled

PHONE = "4915112345678"
TEMPLATE = {"checkout_recovery": {"en": "cart_reminder"}}
#: Quiet hours off unless a test sets them (equal times), so a test does not depend on the time of day it runs.
NO_QUIET = {"quiet_hours_start": "00:00", "quiet_hours_end": "00:00"}
DASHBOARD_USER, DASHBOARD_PASSWORD = "owner@example.com", "correct horse battery"
TEMPLATED = {"templates": TEMPLATE, **NO_QUIET}
FAST = {"recovery_delay_minutes": 0, **TEMPLATED}


def _with_template(stack: Stack) -> None:
    stack.graph.add_template(
        "cart_reminder",
        "Hi {{1}}, you left {{2}} in your cart ({{3}}). Complete your order here: {{4}}",
        category="MARKETING",
    )


def pay(stack: Stack, order_id: str) -> None:
    """The customer pays: WooCommerce moves the order to processing (its REST API; the webhook tells us)."""
    shop = stack.shop.connection_settings()
    paid = requests.put(
        f"{shop['shop_url']}/wp-json/wc/v3/orders/{order_id}",
        json={"status": "processing"},
        auth=OAuth1(shop["consumer_key"], shop["consumer_secret"], signature_method="HMAC-SHA256"),
        timeout=10,
    )
    assert paid.status_code == 200, paid.text


def checkouts(stack: Stack, **params: Any) -> list[dict[str, Any]]:
    answer = ApiClient(stack).get("/api/v1/recovery/checkouts", params=params)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


def checkout_of(
    stack: Stack, order_id: str, *, state: str | None = None, timeout: float = WAIT_BOUND
) -> dict[str, Any]:
    """Wait until the order's checkout is listed (in ``state``, when given) and return it."""

    def found() -> dict[str, Any] | None:
        for item in checkouts(stack):
            if item["external_id"] == order_id and (state is None or item["state"] == state):
                return item
        return None

    return wait_for(found, timeout=timeout)


def test_a_pending_order_gets_one_reminder_with_items_total_and_link_and_payment_recovers_it(
    notify_stack: StackFactory, tmp_path: Path
) -> None:
    stack = notify_stack(**FAST)
    _with_template(stack)
    customer(stack, PHONE, purposes=("marketing",))
    order = place_order(stack, PHONE, "recover-me")

    [reminder] = settled(stack, "checkout_recovery")
    assert reminder.status in ("sent", "delivered", "read"), reminder.reason
    assert (reminder.purpose, reminder.category) == ("marketing", "marketing")
    [sent] = stack.graph.messages_to(PHONE)
    assert sent["type"] == "template" and sent["template"]["name"] == "cart_reminder"
    body = next(c for c in sent["template"]["components"] if c["type"] == "body")
    name, items, total, link = (p["text"] for p in body["parameters"])
    line = order.lines[0]
    assert name == "Erika" and items == f"{line.quantity}x {line.title}"
    assert total == f"{order.total.amount} {order.total.currency}"
    assert link == order.payment_url and "pay_for_order=true" in link

    listed = checkout_of(stack, order.external_id, state="reminded")
    assert listed["source"] == "woocommerce" and listed["reminders_sent"] == 1
    assert listed["recovery_url"] == order.payment_url

    pay(stack, order.external_id)
    recovered = checkout_of(stack, order.external_id, state="recovered")
    assert recovered["recovered_revenue"] == float(order.total.amount)
    summary = ApiClient(stack).get("/api/v1/recovery/summary").json()
    assert summary["recovered"] == 1
    assert summary["recovered_revenue"] == {order.total.currency: float(order.total.amount)}
    assert len(stack.graph.messages_to(PHONE)) == 1  # one reminder (the default), nothing more

    # The command line shows the same, from the same database.
    listed_cli = json.loads(_cli(stack, tmp_path, "recovery", "list", "--state", "recovered", "--json"))
    assert [item["external_id"] for item in listed_cli["items"]] == [order.external_id]
    assert listed_cli["summary"]["recovered_revenue"] == summary["recovered_revenue"]
    table = _cli(stack, tmp_path, "recovery", "list")
    assert "recovered" in table and order.number in table
    shown = _cli(stack, tmp_path, "recovery", "settings", "show")
    assert "first reminder: 0 minutes" in shown and "frequency cap: 2 marketing messages per 7 days" in shown


def _cli(stack: Stack, folder: Path, *args: str) -> str:
    """Run ``connector`` as a process on the stack's database (its config file written from the stack's)."""
    config = stack.runtime.config
    path = folder / "cli.toml"
    # TOML basic strings take JSON's escapes.
    path.write_text(
        f"[database]\nurl = {json.dumps(config.database.url)}\n"
        f"[security]\nsecret_key = {json.dumps(config.security.secret_key)}\n"
        f"encryption_keys = {json.dumps(list(config.security.encryption_keys))}\n"
        "[notify]\nrecovery_delay_minutes = 0\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "connector", "--config", str(path), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_without_marketing_consent_nothing_is_sent_and_the_checkout_says_why(notify_stack: StackFactory) -> None:
    stack = notify_stack(**FAST)
    _with_template(stack)
    customer(stack, PHONE, purposes=("utility",))  # order updates yes, marketing no
    order = place_order(stack, PHONE, "no-marketing")

    [reminder] = settled(stack, "checkout_recovery")
    assert (reminder.status, reminder.reason) == ("skipped", "no opt-in for marketing messages")
    assert stack.graph.messages_to(PHONE) == []
    listed = checkout_of(stack, order.external_id, state="skipped")
    assert listed["reason"] == "no opt-in for marketing messages"


def _quiet_now(zone: str = "Europe/Berlin") -> dict[str, str]:
    """Quiet hours around the current local time in ``zone`` (the hour before to two hours after)."""
    local = datetime.now(UTC).astimezone(ZoneInfo(zone))
    start, end = local - timedelta(hours=1), local + timedelta(hours=2)
    return {"quiet_hours_start": f"{start:%H:%M}", "quiet_hours_end": f"{end:%H:%M}"}


def test_quiet_hours_hold_the_reminder_and_a_payment_meanwhile_cancels_it(notify_stack: StackFactory) -> None:
    quiet = _quiet_now()
    stack = notify_stack(recovery_delay_minutes=0, templates=TEMPLATE, **quiet)
    _with_template(stack)
    customer(stack, PHONE, purposes=("marketing",))
    order = place_order(stack, PHONE, "at-night")

    [reminder] = settled(stack, "checkout_recovery")
    assert reminder.status == "deferred"
    assert reminder.reason is not None and "quiet hours of the customer" in reminder.reason
    assert "Europe/Berlin" in reminder.reason  # a German number: the customer's zone
    assert reminder.deferred_until is not None
    local_end = reminder.deferred_until.astimezone(ZoneInfo("Europe/Berlin"))
    assert f"{local_end:%H:%M}" == quiet["quiet_hours_end"]
    assert checkout_of(stack, order.external_id)["state"] == "waiting"
    assert stack.graph.messages_to(PHONE) == []

    pay(stack, order.external_id)
    paid = checkout_of(stack, order.external_id, state="paid")
    assert paid["recovered_revenue"] is None  # paid before any reminder went out: not counted as recovered

    def skipped() -> OutboundMessage | None:
        [row] = rows(stack, kind="checkout_recovery")
        return row if row.status == "skipped" else None

    assert wait_for(skipped).reason == "the order was paid"
    assert stack.graph.messages_to(PHONE) == []


def test_a_newer_order_of_the_same_customer_replaces_the_older_reminder(notify_stack: StackFactory) -> None:
    stack = notify_stack(recovery_delay_minutes=0, templates=TEMPLATE, **_quiet_now())
    _with_template(stack)
    customer(stack, PHONE, purposes=("marketing",))
    first = place_order(stack, PHONE, "first")
    settled(stack, "checkout_recovery")  # held by the quiet hours
    second = place_order(stack, PHONE, "second")

    older = checkout_of(stack, first.external_id, state="skipped")
    assert older["reason"] == "a newer order exists"
    checkout_of(stack, second.external_id, state="waiting")

    def first_skipped() -> OutboundMessage | None:
        found = [r for r in rows(stack, kind="checkout_recovery") if r.idempotency_key == f"recovery:{older['id']}:1"]
        return found[0] if found and found[0].status == "skipped" else None

    assert wait_for(first_skipped).reason == "a newer order exists"
    assert stack.graph.messages_to(PHONE) == []


def test_the_frequency_cap_counts_marketing_across_reminders(notify_stack: StackFactory) -> None:
    stack = notify_stack(marketing_cap_messages=1, **FAST)
    _with_template(stack)
    customer(stack, PHONE, purposes=("marketing",))
    first = place_order(stack, PHONE, "cap-1")
    [sent] = settled(stack, "checkout_recovery")
    assert sent.status in ("sent", "delivered", "read"), sent.reason
    pay(stack, first.external_id)
    checkout_of(stack, first.external_id, state="recovered")

    second = place_order(stack, PHONE, "cap-2")
    _, capped = settled(stack, "checkout_recovery", count=2)
    assert capped.status == "skipped"
    assert capped.reason == "frequency cap: 1 marketing messages in 7 days reached"
    listed = checkout_of(stack, second.external_id, state="skipped")
    assert listed["reason"] == capped.reason
    assert len(stack.graph.messages_to(PHONE)) == 1

    # The same count for callers such as campaigns: one query for many contacts, with the reason.
    other = customer(stack, "4915100009999", purposes=("marketing",))
    rt = stack.runtime
    with rt.db.session() as session:
        contact_id = capped.contact_id
        assert contact_id is not None
        now = datetime.now(UTC)
        assert frequency.capped(session, [contact_id, other], now, rt.config.notify) == {contact_id: capped.reason}
        assert frequency.allows(session, other, now, rt.config.notify) == (True, "")
        assert frequency.allows(session, contact_id, now, rt.config.notify) == (False, capped.reason)
        assert frequency.allows(session, contact_id, now + timedelta(days=7, minutes=1), rt.config.notify)[0]

    # The dashboard lists both, with their states and the reason, in English and German.
    create_user(stack.runtime, DASHBOARD_USER, DASHBOARD_PASSWORD)
    english, german = _dashboard(stack, "en"), _dashboard(stack, "de")
    assert "Checkout recovery" in english and capped.reason in english
    assert 'data-state="recovered"' in english and 'data-state="skipped"' in english
    assert f"{first.total.amount:.2f} {first.total.currency}" in english  # the recovered revenue
    assert "Warenkorb-Erinnerungen" in german and "zurückgewonnen" in german and "übersprungen" in german
    # The skip reason (stored in English, the cap's figures filled in) in German, the same figures.
    cap = rt.config.notify
    assert capped.reason not in german
    assert (
        f"Obergrenze erreicht: {cap.marketing_cap_messages} Marketing-Nachrichten in {cap.marketing_cap_days:g} Tagen"
        in german
    )


def _dashboard(stack: Stack, language: str) -> str:
    """The recovery page as a logged-in owner sees it in ``language`` (the browser's Accept-Language)."""
    browser = requests.Session()
    browser.headers["Accept-Language"] = language
    form = browser.get(f"{stack.url}/dashboard/login", timeout=10).text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert csrf is not None
    login = browser.post(
        f"{stack.url}/dashboard/login",
        data={"csrf_token": csrf.group(1), "email": DASHBOARD_USER, "password": DASHBOARD_PASSWORD},
        timeout=10,
        allow_redirects=False,
    )
    assert login.status_code == 302, login.text
    page = browser.get(f"{stack.url}/dashboard/recovery", timeout=10)
    assert page.status_code == 200, page.text
    return page.text


def test_marketing_to_a_us_number_is_not_sent(notify_stack: StackFactory) -> None:
    stack = notify_stack(**FAST)
    _with_template(stack)
    us = "16505551234"
    customer(stack, us, purposes=("marketing",))
    order = place_order(stack, us, "us-number")

    [reminder] = settled(stack, "checkout_recovery")
    assert reminder.status == "skipped" and reminder.reason is not None and "131049" in reminder.reason
    assert stack.graph.messages_to(us) == []
    assert checkout_of(stack, order.external_id, state="skipped")["reason"] == reminder.reason


def test_reminders_wait_in_the_database_until_due_and_a_second_one_follows_when_configured(
    notify_stack: StackFactory,
) -> None:
    # The first reminder is due 30 seconds after the order (long enough for a loaded machine to read the waiting
    # checkout before it is due); the second (2 configured, 0 hours apart) right after it.
    stack = notify_stack(recovery_delay_minutes=0.5, recovery_reminders=2, recovery_spacing_hours=0, **TEMPLATED)
    _with_template(stack)
    customer(stack, PHONE, purposes=("marketing",))
    order = place_order(stack, PHONE, "twice")
    waiting = checkout_of(stack, order.external_id, state="waiting")
    assert waiting["next_reminder_at"] is not None and waiting["reminders_sent"] == 0
    assert rows(stack, kind="checkout_recovery") == []  # nothing queued while it waits

    # The every-minute job (run here until it finds the reminder due) enqueues it.
    wait_for(lambda: recovery.enqueue_due(stack.runtime))
    first, second = settled(stack, "checkout_recovery", count=2)
    assert [first.idempotency_key, second.idempotency_key] == [
        f"recovery:{waiting['id']}:1",
        f"recovery:{waiting['id']}:2",
    ]
    assert len(stack.graph.messages_to(PHONE)) == 2
    done = checkout_of(stack, order.external_id, state="reminded")
    assert done["reminders_sent"] == 2 and done["next_reminder_at"] is None
    assert recovery.enqueue_due(stack.runtime) == 0  # nothing more is due


def test_a_reminder_refused_with_131049_pauses_marketing_and_a_later_payment_is_not_counted_as_recovered(
    notify_stack: StackFactory,
) -> None:
    stack = notify_stack(**FAST)
    _with_template(stack)
    customer(stack, PHONE, purposes=("marketing",))
    stack.graph.set_options(fail_next={PHONE: "131049"})
    first = place_order(stack, PHONE, "limited")

    def failed() -> OutboundMessage | None:
        found = rows(stack, kind="checkout_recovery")
        return found[0] if found and found[0].status == "failed" else None

    assert wait_for(failed).error_code == 131049
    refused = checkout_of(stack, first.external_id, state="skipped")
    assert "131049" in (refused["reason"] or "")

    # WhatsApp asks for 24 hours without marketing to this customer: the next reminder waits, it is not resent.
    second = place_order(stack, PHONE, "limited-2")
    waiting = checkout_of(stack, second.external_id, state="waiting")

    def deferred() -> OutboundMessage | None:
        found = [r for r in rows(stack, kind="checkout_recovery") if r.status == "deferred"]
        return found[0] if found else None

    held = wait_for(deferred)
    assert "131049" in (held.reason or "") and held.deferred_until is not None
    assert held.deferred_until - datetime.now(UTC) > timedelta(hours=23)
    assert checkout_of(stack, second.external_id)["reason"] == held.reason
    assert waiting["id"] != refused["id"]

    # Paid after a reminder that never arrived: paid, not recovered revenue.
    pay(stack, second.external_id)
    assert checkout_of(stack, second.external_id, state="paid")["recovered_revenue"] is None


def test_the_frequency_cap_is_shared_with_back_in_stock_alerts(notify_stack: StackFactory) -> None:
    from connector.notify.back_in_stock import subscribe
    from tests.notify.test_back_in_stock import _sold_out_variant
    from tests.notify.test_back_in_stock import _with_template as _with_alert_template

    stack = notify_stack(
        marketing_cap_messages=1, **{**FAST, "templates": {**TEMPLATE, "back_in_stock": {"en": "bis_text"}}}
    )
    _with_template(stack)
    _with_alert_template(stack)
    variant = _sold_out_variant(stack)
    contact_id = customer(stack, PHONE, purposes=("marketing",))
    subscribe(
        stack.runtime,
        contact_id=contact_id,
        shop_connection_id=stack.shop_id,
        variant_external_id=variant,
        source="test",
    )
    place_order(stack, PHONE, "before-the-alert")
    [reminder] = settled(stack, "checkout_recovery")
    assert reminder.status in ("sent", "delivered", "read"), reminder.reason

    stack.shop.set_stock(variant, 5)  # back in stock: the alert goes out in a batch, and the cap holds there too
    [alert] = settled(stack, "back_in_stock")
    assert (alert.status, alert.reason) == ("skipped", "frequency cap: 1 marketing messages in 7 days reached")
    assert len(stack.graph.messages_to(PHONE)) == 1


def test_quiet_hours_are_the_customers_local_night_spanning_midnight() -> None:
    from connector.notify.quiet_hours import quiet_until, zone_for
    from connector.notify.settings import NotifySettings

    settings = NotifySettings()  # 21:00-09:00, shop in Europe/Berlin
    berlin, los_angeles = "4915112345678", "16505551234"
    winter_evening = datetime(2026, 12, 7, 22, 0, tzinfo=UTC)  # 23:00 in Berlin, 14:00 in California
    assert quiet_until(settings, berlin, winter_evening) == datetime(2026, 12, 8, 8, 0, tzinfo=UTC)  # 09:00 CET
    assert quiet_until(settings, los_angeles, winter_evening) is None
    assert quiet_until(settings, berlin, datetime(2026, 12, 7, 12, 0, tzinfo=UTC)) is None
    early = datetime(2026, 12, 8, 6, 30, tzinfo=UTC)  # 07:30 in Berlin: still quiet until 09:00
    assert quiet_until(settings, berlin, early) == datetime(2026, 12, 8, 8, 0, tzinfo=UTC)
    summer = datetime(2026, 7, 1, 5, 0, tzinfo=UTC)  # 07:00 CEST: quiet until 09:00 CEST = 07:00 UTC
    assert quiet_until(settings, berlin, summer) == datetime(2026, 7, 1, 7, 0, tzinfo=UTC)
    # No phone number (or one spanning several zones): the shop's time zone.
    assert zone_for(settings, None).key == "Europe/Berlin"
    assert zone_for(NotifySettings(shop_time_zone="America/New_York"), "not a number").key == "America/New_York"
    assert quiet_until(NotifySettings(quiet_hours_start="00:00", quiet_hours_end="00:00"), berlin, early) is None


def test_the_api_refuses_bad_filters_with_the_reason(notify_stack: StackFactory) -> None:
    stack = notify_stack(**FAST)
    api = ApiClient(stack)
    bad_state = api.get("/api/v1/recovery/checkouts", params={"state": "lost"})
    assert bad_state.status_code == 400 and "state must be one of" in bad_state.json()["message"]
    bad_limit = api.get("/api/v1/recovery/checkouts", params={"limit": "many"})
    assert bad_limit.status_code == 400 and "integers" in bad_limit.json()["message"]
    anonymous = requests.get(f"{stack.url}/api/v1/recovery/summary", timeout=10)
    assert anonymous.status_code == 401
    rules = api.get("/api/v1/recovery/settings").json()
    assert rules["delay_minutes"] == 0 and rules["frequency_cap"] == {"messages": 2, "days": 7.0}


def _cart_carousel(stack: Stack) -> None:
    """A product-card carousel template for carts: the reminder's body, then product cards with a View button."""
    card = {"components": [{"type": "HEADER", "format": "PRODUCT"}, {"type": "BUTTONS", "buttons": [{"type": "SPM", "text": "View"}]}]}  # fmt: skip
    body = {"type": "BODY", "text": "Hi {{1}}, you left {{2}} in your cart ({{3}}). Complete your order here: {{4}}"}
    definition = {
        "name": "cart_carousel",
        "language": "en_US",
        "category": "MARKETING",
        "components": [body, {"type": "CAROUSEL", "cards": [card, card]}],
    }
    stack.graph.control("POST", "templates", json=definition)


def _order_of(stack: Stack, phone: str, reference: str, variants: list[str]) -> Any:
    adapter = stack.runtime.connections.shop_adapter(stack.shop_id)
    return adapter.create_order(
        model.Cart(lines=[model.CartLine(variant_external_id=v, quantity=1) for v in variants], reference=reference),
        model.Customer(phone="+" + phone, email="erika@example.com", first_name="Erika", last_name="Muster"),
        model.Address(name="Erika Muster", line1="Hauptstr. 1", postcode="20095", city="Hamburg", country_code="DE"),
    )


def test_a_cart_of_several_products_is_reminded_with_their_cards_without_the_sold_out_one(
    notify_stack: StackFactory,
) -> None:
    stack = notify_stack(carousel_templates={"checkout_recovery": {"en": "cart_carousel"}}, **FAST)
    _with_template(stack)
    _cart_carousel(stack)
    stack.full_sync()
    catalog = stack.catalog()
    stocked = [v for v in stack.shop.variant_ids() if catalog.get(v, {}).get("availability") == "in stock"][:4]
    sold_out = stocked[3]
    stack.shop.set_stock(sold_out, 0)
    wait_for(lambda: stack.catalog()[sold_out]["availability"] == "out of stock")
    customer(stack, PHONE, purposes=("marketing",))
    single = "4915112345679"
    customer(stack, single, purposes=("marketing",))

    _order_of(stack, PHONE, "several", [stocked[0], stocked[1], sold_out])
    _order_of(stack, single, "one", [stocked[2]])

    reminders = settled(stack, "checkout_recovery", count=2)
    assert all(r.status in ("sent", "delivered", "read") for r in reminders), [r.reason for r in reminders]
    # Each is one billed marketing message, cards or not.
    assert [(r.category, r.cost) for r in reminders] == [("marketing", 0.1365)] * 2
    [cards] = stack.graph.messages_to(PHONE)
    assert cards["template"]["name"] == "cart_carousel"
    [carousel] = [c for c in cards["template"]["components"] if c["type"] == "carousel"]
    shown = [card["components"][0]["parameters"][0]["product"]["product_retailer_id"] for card in carousel["cards"]]
    assert shown == [stocked[0], stocked[1]], "the sold-out product is left out"
    assert all(stack.catalog()[rid]["image_link"].startswith("http") for rid in shown)
    body = next(c for c in cards["template"]["components"] if c["type"] == "body")
    assert body["parameters"][0]["text"] == "Erika"
    # A cart of one product gets the one-product template, as before.
    [one] = stack.graph.messages_to(single)
    assert one["template"]["name"] == "cart_reminder"
    assert not [c for c in one["template"]["components"] if c["type"] == "carousel"]
