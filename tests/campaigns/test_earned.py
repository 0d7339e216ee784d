"""What chat earned, and Meta's Conversions API, over real HTTP: WooCommerce sandbox orders paid (shipped) after a
campaign, a conversation or nothing; the connector credits each to the last chat touch in the window, shows it via
``/api/v1/earned``, the campaign's progress and ``/metrics``; a customer from a click-to-WhatsApp ad who pays is
reported to the Graph sandbox's Conversions API, which refuses what Meta refuses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from sqlalchemy import select

from connector.campaigns import conversions
from connector.db.models import OutboundMessage, Task
from connector.db.models_sales import ConversionEvent, SalesOrder
from tests.campaigns.helpers import NO_QUIET_HOURS, Api, campaign, person, segment, until_progress, with_template
from tests.conftest import Stack, wait_for
from tests.notify.conftest import StackFactory, place_order

CLID = "ARAkLkA8rmlFeiCktEJQ-QTwRiyYHAFDLMNDBH0CD3qpjd0HR4irJ6LEkR7JwFF4XvnO2E4Nx0-eM-GABDLOPaOdRMv-_zfUQ2a"
AD = {
    "source_type": "ad",
    "source_id": "120212345678901234",
    "source_url": "https://fb.me/3bCdEfGh",
    "headline": "Winter sale",
    "body": "20% off all boots",
    "ctwa_clid": CLID,
}


def _paid(stack: Stack, phone: str, reference: str) -> Any:
    """An order placed in the shop and shipped (so paid): the shop's webhook tells the connector."""
    order = place_order(stack, phone, reference)
    stack.shop.ship_order(order.external_id, company="DHL", number=f"T{reference}")
    return order


def _recorded(stack: Stack, order_id: str) -> SalesOrder:
    def found() -> SalesOrder | None:
        with stack.runtime.db.session() as session:
            return session.scalar(select(SalesOrder).where(SalesOrder.order_external_id == order_id))

    return wait_for(found)


def test_orders_are_credited_to_the_last_chat_touch_within_the_window(notify_stack: StackFactory) -> None:
    stack = notify_stack(attribution_window_days=7, **NO_QUIET_HOURS)
    api = Api(stack)
    with_template(stack)
    reader, talker, silent, long_ago = "4915100000061", "4915100000062", "4915100000063", "4915100000064"
    person(stack, reader)
    old = person(stack, long_ago, consent=None)
    with stack.runtime.db.session() as session:  # a campaign message ten days ago: outside the window
        session.add(
            OutboundMessage(
                channel_connection_id=stack.channel_id, contact_id=old, recipient=long_ago, kind="campaign",
                payload={}, idempotency_key="old-campaign", purpose="marketing", status="read",
                sent_at=datetime.now(UTC) - timedelta(days=10),
            )
        )  # fmt: skip
    created = campaign(api, stack, segment(api, {"consent": "marketing"}))
    api.post(f"/api/v1/campaigns/{created['id']}/start")
    until_progress(api, created["id"], lambda p: p["delivered"] == 1)
    stack.graph.customer_text(None, talker, "Do you have these boots in 42?")
    wait_for(lambda: person(stack, talker, consent=None) and _wrote(stack, talker))

    bought = _paid(stack, reader, "after-campaign")
    talked = _paid(stack, talker, "after-chat")
    nothing = _paid(stack, silent, "no-touch")
    expired = _paid(stack, long_ago, "too-late")
    assert _recorded(stack, bought.external_id).source == "campaign"
    assert _recorded(stack, talked.external_id).source == "conversation"
    assert _recorded(stack, nothing.external_id).source is None
    assert _recorded(stack, expired.external_id).source is None
    assert _recorded(stack, bought.external_id).campaign_id == created["id"]

    earned = api.get("/api/v1/earned").json()
    by_source = {row["source"]: row for row in earned["by_source"]}
    revenue = float(bought.total.amount)
    assert by_source["campaign"]["orders"] == 1 and by_source["campaign"]["revenue"] == round(revenue, 2)
    assert by_source["campaign"]["cost"] == 0.1365
    assert by_source["campaign"]["return_on_spend"] == round(revenue / 0.1365, 2)
    assert by_source["conversation"]["orders"] == 1 and by_source["none"]["orders"] == 2
    today = datetime.now(UTC).date().isoformat()
    assert {(row["day"], row["source"]) for row in earned["by_day"]} >= {(today, "campaign"), (today, "conversation")}
    [per_campaign] = earned["by_campaign"]
    assert per_campaign["campaign_id"] == created["id"] and per_campaign["orders"] == 1
    progress = until_progress(api, created["id"], lambda p: p["ordered"] == 1)["progress"]
    assert progress["revenue"] == round(revenue, 2)

    # A shop that tells us twice (another webhook for the same order) does not count it twice.
    stack.shop.set_delivery_status(bought.external_id, "delivered")
    wait_for(lambda: api.get("/api/v1/earned").json()["by_source"])
    assert {r["source"]: r["orders"] for r in api.get("/api/v1/earned").json()["by_source"]}["campaign"] == 1

    metrics = api.get("/metrics").text
    assert 'connector_chat_orders_total{source="campaign"} 1.0' in metrics
    assert f'connector_chat_revenue_total{{currency="{bought.total.currency}",source="campaign"}}' in metrics
    assert api.get("/api/v1/earned", params={"since": "yesterday"}).status_code == 400


def _wrote(stack: Stack, phone: str) -> bool:
    from connector.db.models import Contact, InboundMessage

    with stack.runtime.db.session() as session:
        return (
            session.scalar(
                select(InboundMessage.id)
                .join(Contact, Contact.id == InboundMessage.contact_id)
                .where(Contact.channel_user_id == phone)
            )
            is not None
        )


def _dataset(stack: Stack) -> str:
    settings = stack.graph.connection_settings()
    answer = requests.post(
        f"{settings['graph_url']}/{settings['api_version']}/{settings['waba_id']}/dataset",
        json={"dataset_name": "Chatshop purchases"},
        headers={"Authorization": f"Bearer {settings['access_token']}"},
        timeout=10,
    )
    answer.raise_for_status()
    return str(answer.json()["id"])


def test_a_paid_order_from_a_click_to_whatsapp_ad_is_sent_to_the_conversions_api(notify_stack: StackFactory) -> None:
    stack = notify_stack(conversions_api_enabled=True, **NO_QUIET_HOURS)
    dataset = _dataset(stack)
    stack.runtime.connections.update_settings("channel", stack.channel_id, {"capi_dataset_id": dataset})
    from_ad, organic = "4915100000071", "4915100000072"
    stack.graph.customer_text(None, from_ad, "Hi, I saw your ad", referral=AD)
    stack.graph.customer_text(None, organic, "Hi")
    wait_for(lambda: _wrote(stack, from_ad) and _wrote(stack, organic))

    order = _paid(stack, from_ad, "ad-order")
    organic_order = _paid(stack, organic, "organic-order")
    [event] = wait_for(stack.graph.conversions)
    assert event["dataset_id"] == dataset and event["partner_agent"] == "chatshop"
    assert event["event_name"] == "Purchase" and isinstance(event["event_time"], int)
    assert event["action_source"] == "business_messaging" and event["messaging_channel"] == "whatsapp"
    assert event["user_data"] == {
        "whatsapp_business_account_id": stack.graph.connection_settings()["waba_id"],
        "ctwa_clid": CLID,
    }
    assert event["custom_data"] == {"currency": order.total.currency, "value": float(order.total.amount)}
    assert "event_id" not in event  # the reference's payload (conversions_api_event_id is off by default)

    # The worker commits its record after Meta answered: wait for it rather than race it.
    def recorded_as_sent() -> ConversionEvent | None:
        with stack.runtime.db.session() as session:
            [row] = session.scalars(select(ConversionEvent)).all()
            return row if row.status == "sent" else None

    assert wait_for(recorded_as_sent).fbtrace_id
    _recorded(stack, organic_order.external_id)
    assert len(stack.graph.conversions()) == 1  # the organic customer's order is no ad conversion


def test_an_event_sent_again_after_a_crash_carries_the_same_event_id(notify_stack: StackFactory) -> None:
    stack = notify_stack(conversions_api_enabled=True, conversions_api_event_id=True, **NO_QUIET_HOURS)
    rt = stack.runtime
    rt.connections.update_settings("channel", stack.channel_id, {"capi_dataset_id": _dataset(stack)})
    stack.graph.customer_text(None, "4915100000075", "Hi, I saw your ad", referral=AD)
    wait_for(lambda: _wrote(stack, "4915100000075"))
    order = _paid(stack, "4915100000075", "crash-order")
    [first] = wait_for(stack.graph.conversions)
    recorded = _recorded(stack, order.external_id)
    assert first["event_id"] == f"order:{recorded.shop_connection_id}:{order.external_id}"

    # Meta's sandbox records the event before the worker commits its record and finishes the task: wait for both, so
    # the worker's own commit can't land on top of the crash staged below.
    def send_settled() -> bool:
        with rt.db.session() as session:
            row = session.scalars(select(ConversionEvent)).one()
            task = session.scalars(select(Task).where(Task.kind == conversions.SEND_TASK)).one()
            return row.status == "sent" and task.status == "done"

    wait_for(send_settled)

    # The worker stops after Meta accepted the event and before its record committed: the row is still pending and
    # the task, its lease run out, is taken up again (as the queue does after a crash).
    with rt.db.session() as session:
        row = session.scalars(select(ConversionEvent)).one()
        row.status, row.attempts, row.fbtrace_id, row.sent_at = "pending", 0, None, None
        task = session.scalars(select(Task).where(Task.kind == conversions.SEND_TASK)).one()
        task.status, task.lease_until, task.due_at, task.finished_at = "pending", None, datetime.now(UTC), None
    rt.queue.notify()

    first_again, second = wait_for(lambda: stack.graph.conversions() if len(stack.graph.conversions()) == 2 else None)
    assert first_again == first
    assert second == first  # the same event, event_id included: Meta can tell it is a repeat
    wait_for(send_settled)
    with rt.db.session() as session:
        [row] = session.scalars(select(ConversionEvent)).all()
        assert row.status == "sent" and row.attempts == 1


def test_the_conversions_api_is_off_by_default(notify_stack: StackFactory) -> None:
    stack = notify_stack(**NO_QUIET_HOURS)
    stack.runtime.connections.update_settings("channel", stack.channel_id, {"capi_dataset_id": _dataset(stack)})
    stack.graph.customer_text(None, "4915100000081", "Hi, I saw your ad", referral=AD)
    wait_for(lambda: _wrote(stack, "4915100000081"))
    order = _paid(stack, "4915100000081", "off-order")
    _recorded(stack, order.external_id)
    with stack.runtime.db.session() as session:
        assert session.scalars(select(ConversionEvent)).all() == []
    assert stack.graph.conversions() == []


def test_the_sandbox_refuses_what_meta_refuses(notify_stack: StackFactory) -> None:
    stack = notify_stack()
    settings = stack.graph.connection_settings()
    dataset = _dataset(stack)
    url = f"{settings['graph_url']}/{settings['api_version']}/{dataset}/events"
    good = {
        "event_name": "Purchase",
        "event_time": int(stack.graph.now()),
        "action_source": "business_messaging",
        "messaging_channel": "whatsapp",
        "user_data": {"whatsapp_business_account_id": settings["waba_id"], "ctwa_clid": CLID},
        "custom_data": {"currency": "EUR", "value": 12.5},
    }

    def send(event: dict[str, Any], token: str = settings["access_token"]) -> requests.Response:
        return requests.post(url, params={"access_token": token}, json={"data": [event]}, timeout=10)

    assert send(good).json()["events_received"] == 1
    refused = send({**good, "event_name": "AddToCart"})
    assert refused.status_code == 400 and refused.json()["error"]["error_subcode"] == 2804066
    for wrong in (
        {**good, "action_source": "website"},
        {**good, "user_data": {"whatsapp_business_account_id": settings["waba_id"]}},
        {**good, "custom_data": {"currency": "EURO", "value": 1}},
        {**good, "event_time": int(stack.graph.now()) + 3600},
        {**good, "event_time": int(stack.graph.now()) - 8 * 86400},
    ):
        assert send(wrong).status_code == 400, wrong
    assert send(good, token="wrong").status_code == 401
    unknown = requests.post(
        url.replace(dataset, "999"),
        params={"access_token": settings["access_token"]},
        json={"data": [good]},
        timeout=10,
    )
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == 100
    assert len(stack.graph.conversions()) == 1
