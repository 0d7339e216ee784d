"""Shipping notifications over real HTTP: WooCommerce sandbox webhooks -> connector -> WhatsApp (Graph sandbox)."""

from __future__ import annotations

import uuid

import requests

from connector.db.models import OutboundMessage
from tests.conftest import wait_for
from tests.notify.conftest import StackFactory, customer, place_order, rows, settled

PHONE = "4915112345678"


def test_no_opt_in_means_no_message(notify_stack: StackFactory) -> None:
    stack = notify_stack()
    order = place_order(stack, PHONE, "no-consent")
    stack.shop.ship_order(order.external_id, company="DHL", number="0034043416", url="https://dhl.example/t/1")

    [row] = settled(stack, "order_shipped")
    assert row.status == "skipped"
    assert row.reason == "no opt-in for utility messages"
    assert stack.graph.messages_to(PHONE) == []


def test_inside_the_window_a_free_form_message_outside_the_approved_template(notify_stack: StackFactory) -> None:
    stack = notify_stack()
    writer, silent = "4915100000001", "4915100000002"
    customer(stack, writer)
    customer(stack, silent)
    stack.graph.customer_text(None, writer, "Hallo, wo ist mein Paket?")  # opens the 24-hour window
    wait_for(lambda: rows(stack, recipient=writer) or _inbound_seen(stack, writer))

    for phone in (writer, silent):
        order = place_order(stack, phone, f"window-{phone}")
        stack.shop.ship_order(order.external_id, company="DHL", number=f"TRK{phone[-4:]}", url="https://dhl.example/t")
    settled(stack, "order_shipped", count=2)

    # (the conversation engine may answer the customer's question too; the notification is the tracking link)
    [inside] = [m for m in stack.graph.messages_to(writer) if m.get("interactive", {}).get("type") == "cta_url"]
    assert "TRK0001" in inside["interactive"]["body"]["text"]
    assert inside["interactive"]["action"]["parameters"]["url"] == "https://dhl.example/t"

    [outside] = stack.graph.messages_to(silent)
    assert outside["type"] == "template"
    assert outside["template"]["name"] == "order_shipped"
    body = next(c for c in outside["template"]["components"] if c["type"] == "body")
    assert [p["text"] for p in body["parameters"]][1:] == [_number(stack, silent), "DHL"]

    by_recipient = {r.recipient: r for r in rows(stack, kind="order_shipped")}
    # Since 2026-10-01 a service message inside the window costs the market's utility rate (DE: 0.055).
    assert by_recipient[writer].category == "service" and by_recipient[writer].cost == 0.055
    assert by_recipient[silent].category == "utility" and by_recipient[silent].country == "DE"
    assert by_recipient[silent].cost == 0.055 and by_recipient[silent].outside_window is True
    assert stack.graph.stats()["whatsapp"]["refused"] == {}  # never a 131047


def test_no_template_configured_skips_with_the_reason(notify_stack: StackFactory) -> None:
    stack = notify_stack(templates={})
    customer(stack, PHONE)
    order = place_order(stack, PHONE, "no-template")
    stack.shop.ship_order(order.external_id, company="DHL", number="1234", url="https://dhl.example/t")

    [row] = settled(stack, "order_shipped")
    assert row.status == "skipped"
    assert row.reason == "outside the 24-hour window and no template configured for order_shipped in 'en'"
    assert stack.graph.messages_to(PHONE) == []
    assert stack.graph.stats()["whatsapp"]["refused"] == {}


def test_duplicate_and_out_of_order_shop_webhooks_send_each_status_once_and_never_backwards(
    notify_stack: StackFactory,
) -> None:
    stack = notify_stack(
        templates={"order_shipped": {"en": "order_shipped"}, "order_delivered": {"en": "order_delivered"}}
    )
    stack.graph.add_template("order_delivered", "Hi {{1}}, your order {{2}} has been delivered.")
    customer(stack, PHONE)
    order = place_order(stack, PHONE, "dupes")
    stack.shop.ship_order(order.external_id, company="DHL", number="555", url="https://dhl.example/t")
    settled(stack, "order_shipped")
    stack.shop.set_delivery_status(order.external_id, "delivered")
    settled(stack, "order_delivered")

    # The shop now sends every order webhook again, five times, oldest first (the "shipped" ones arrive after
    # "delivered"), each with a fresh delivery id as a real retry storm would.
    deliveries = stack.shop.control("GET", "deliveries")["deliveries"]
    replayed = [d for d in deliveries if d["headers"].get("X-WC-Webhook-Topic", "").startswith("order.")]
    assert len(replayed) >= 3
    for _ in range(5):
        for delivery in replayed:
            headers = dict(delivery["headers"], **{"X-WC-Webhook-Delivery-ID": uuid.uuid4().hex})
            answer = requests.post(delivery["url"], data=delivery["body"].encode(), headers=headers, timeout=10)
            assert answer.status_code == 200
    wait_for(lambda: stack.runtime.queue.counts().get("pending", 0) == 0 and not _running(stack))

    kinds = [r.kind for r in rows(stack, recipient=PHONE)]
    assert kinds == ["order_shipped", "order_delivered"]
    sent = stack.graph.messages_to(PHONE)
    assert [m["template"]["name"] for m in sent] == ["order_shipped", "order_delivered"]


def _running(stack: object) -> int:
    return stack.runtime.queue.counts().get("running", 0)  # type: ignore[attr-defined]


def _inbound_seen(stack: object, phone: str) -> bool:
    from sqlalchemy import select

    from connector.db.models import Contact

    with stack.runtime.db.session() as session:  # type: ignore[attr-defined]
        last = session.scalar(select(Contact.last_inbound_at).where(Contact.channel_user_id == phone))
    return last is not None


def _number(stack: object, phone: str) -> str:
    [row] = [r for r in rows(stack, kind="order_shipped") if r.recipient == phone]  # type: ignore[arg-type]
    return str(row.notification["vars"]["number"])


def test_a_shop_webhook_handled_again_after_a_crash_notifies_once(notify_stack: StackFactory) -> None:
    """The worker handles a shop webhook, then dies before marking it processed: the task's next run handles the
    same stored delivery again, and the customer still gets one shipping message."""
    from sqlalchemy import update

    from connector.db.models import WebhookEvent

    stack = notify_stack()
    customer(stack, PHONE)
    order = place_order(stack, PHONE, "crash")
    stack.shop.ship_order(order.external_id, company="DHL", number="777", url="https://dhl.example/t/777")
    settled(stack, "order_shipped")
    with stack.runtime.db.session() as session:
        shipped = [
            e.id for e in session.query(WebhookEvent).filter(WebhookEvent.connection_kind == "shop") if b"777" in e.body
        ]
        assert shipped
        # What a crash between handling and the "processed" mark leaves behind: the delivery still "received",
        # its task run again.
        session.execute(update(WebhookEvent).where(WebhookEvent.id.in_(shipped)).values(status="received"))
        for event_id in shipped:
            stack.runtime.queue.enqueue("webhook.process", {"event_id": event_id}, session=session)
    stack.runtime.queue.notify()
    wait_for(lambda: stack.runtime.queue.counts().get("pending", 0) == 0 and not _running(stack))
    with stack.runtime.db.session() as session:
        again = session.query(WebhookEvent).filter(WebhookEvent.id.in_(shipped)).all()
    assert {e.status for e in again} == {"processed"}

    assert [r.kind for r in rows(stack, recipient=PHONE)] == ["order_shipped"]
    sent = stack.graph.messages_to(PHONE)
    assert len(sent) == 1 and "777" in str(sent[0])


def test_a_broken_account_keeps_the_notification_until_the_owner_fixed_it_then_sends_it_once(
    notify_stack: StackFactory,
) -> None:
    """Meta refuses every send while the business has a payment problem (131042). Nothing is wrong with the
    message: it is kept (deferred, not failed, its attempts not used up) and tried again until the owner fixed
    the payment method at Meta, then sent once."""
    stack = notify_stack(setup_retry_seconds=0.5, max_send_attempts=2)
    customer(stack, PHONE)
    stack.graph.set_options(account_problem=131042)
    order = place_order(stack, PHONE, "payment")
    stack.shop.ship_order(order.external_id, company="DHL", number="888", url="https://dhl.example/t/888")

    def refused_a_few_times() -> OutboundMessage | None:
        found = rows(stack, kind="order_shipped")
        if not found or found[0].status != "deferred":
            return None
        return found[0] if stack.graph.stats()["whatsapp"]["refused"].get("131042", 0) >= 3 else None

    row = wait_for(refused_a_few_times)  # more refusals than max_send_attempts allows for a bad message
    assert "setup needs the owner" in (row.reason or "") and "131042" in (row.error or "")
    assert stack.graph.messages_to(PHONE) == []

    stack.graph.set_options(account_problem=0)  # the owner fixed the payment method
    wait_for(lambda: rows(stack, kind="order_shipped")[0].status in ("sent", "delivered", "read"))
    assert len(stack.graph.messages_to(PHONE)) == 1
