"""Campaigns to segments over real HTTP: the admin API of a live stack (web app + worker), the Graph sandbox
receiving the template sends and sending their status webhooks back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from connector.campaigns import campaigns as campaigns_module
from connector.db.models import OutboundMessage
from connector.notify import frequency
from tests.campaigns.helpers import (
    NO_QUIET_HOURS,
    TEMPLATE,
    Api,
    campaign,
    person,
    segment,
    until_progress,
    until_status,
    with_template,
)
from tests.conftest import wait_for
from tests.notify.conftest import StackFactory, rows


def test_segment_preview_counts_excludes_with_reasons_and_prices_by_country(notify_stack: StackFactory) -> None:
    # DE/AT marketing 0.1365, GB 0.0705; a daily budget of 0.30 pays for two German messages today.
    stack = notify_stack(daily_budget=0.30, marketing_cap_messages=1, **NO_QUIET_HOURS)
    api = Api(stack)
    person(stack, "4915100000001")
    person(stack, "4915100000002")
    person(stack, "436641234567", locale="de_AT")
    person(stack, "447400123456", locale="en_GB")  # not German-speaking: not in the segment
    person(stack, "4915100000003", consent=None)
    person(stack, "4915100000004", consent=False)
    capped = person(stack, "4915100000005")
    with stack.runtime.db.session() as session:  # one marketing message this week already: the cap of 1 is reached
        session.add(
            OutboundMessage(
                channel_connection_id=stack.channel_id, contact_id=capped, recipient="4915100000005",
                kind="back_in_stock", payload={}, idempotency_key="earlier", purpose="marketing", status="delivered",
                sent_at=datetime.now(UTC) - timedelta(days=1),
            )
        )  # fmt: skip
    germans = segment(api, {"language": ["de"], "country": ["DE", "AT"]})

    answer = api.get(f"/api/v1/segments/{germans}/preview")
    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert found["matching"] == 6 and found["eligible"] == 3
    assert found["excluded"] == {"no consent": 1, "opted out": 1, "frequency cap": 1}
    assert set(found["excluded_reasons"]) == {"no consent", "opted out", "frequency cap"}
    assert found["cost"]["currency"] == "EUR"
    assert found["cost"]["by_country"] == [
        {"country": "DE", "messages": 2, "rate": 0.1365, "cost": 0.273},
        {"country": "AT", "messages": 1, "rate": 0.1365, "cost": 0.1365},
    ]
    assert found["cost"]["total"] == 0.4095
    # The budget pays for two of the three today: one (a third) would wait for tomorrow.
    assert found["deferred"]["daily_budget"] == {"messages": 1, "share": 0.3333}
    assert found["deferred"]["reach_limit"] == {"messages": 0, "share": 0.0}

    adhoc = api.post("/api/v1/segments/preview", json={"filters": {"country": ["GB"]}, "budget_cap": 0.05}).json()
    assert adhoc["matching"] == 1 and adhoc["cost"]["by_country"][0]["rate"] == 0.0705
    assert adhoc["budget_cap"] == {"cap": 0.05, "not_sent": 1, "share": 1.0}
    # A filter with a typo is refused with the reason, never read as "everyone".
    wrong = api.post("/api/v1/segments", json={"name": "x", "filters": {"contry": ["DE"]}})
    assert wrong.status_code == 400 and "contry" in wrong.json()["message"]
    assert api.post("/api/v1/segments", json={"name": "x", "filters": {"country": ["XX"]}}).status_code == 400


def test_a_campaign_sends_its_template_with_per_contact_parameters_once_and_reports_progress(
    notify_stack: StackFactory,
) -> None:
    stack = notify_stack(**NO_QUIET_HOURS)
    api = Api(stack)
    with_template(stack)
    person(stack, "4915100000011", name="Erika Muster")
    person(stack, "4915100000012", name="Max Mustermann")
    person(stack, "4915100000013", consent=False)
    created = campaign(api, stack, segment(api, {"country": ["DE"]}))
    assert created["status"] == "draft"

    started = api.post(f"/api/v1/campaigns/{created['id']}/start")
    assert started.status_code == 200, started.text
    done = until_status(api, created["id"], "done")
    assert done["excluded"] == {"opted out": 1}
    progress = until_progress(api, created["id"], lambda p: p["delivered"] == 2)["progress"]
    assert progress["queued"] == 2 and progress["sent"] == 2 and progress["failed"] == 0

    [erika] = stack.graph.messages_to("4915100000011")
    assert erika["type"] == "template" and erika["template"]["name"] == TEMPLATE
    body = next(c for c in erika["template"]["components"] if c["type"] == "body")
    assert [p["text"] for p in body["parameters"]] == ["Erika", "20%", "WINTER20"]
    [max_] = stack.graph.messages_to("4915100000012")
    assert next(c for c in max_["template"]["components"] if c["type"] == "body")["parameters"][0]["text"] == "Max"
    assert stack.graph.messages_to("4915100000013") == []
    [row, _] = rows(stack, kind="campaign")
    assert row.category == "marketing" and row.cost == 0.1365 and row.campaign_id == created["id"]

    # The customer answers: counted as replied.
    stack.graph.customer_text(None, "4915100000011", "Does the code work for boots?")
    until_progress(api, created["id"], lambda p: p["replied"] == 1)
    # Done is done: neither started again nor sent twice.
    assert api.post(f"/api/v1/campaigns/{created['id']}/start").status_code == 409
    assert len(stack.graph.messages_to("4915100000011")) >= 1
    assert [m["type"] for m in stack.graph.messages_to("4915100000011")].count("template") == 1


def test_a_campaign_walks_its_segment_chunk_by_chunk_and_reaches_everyone_once(
    notify_stack: StackFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A campaign queues its contacts a chunk per transaction (200 in production, 2 here): every eligible contact
    gets the template once, and the exclusions of every chunk are counted."""
    monkeypatch.setattr(campaigns_module, "QUEUE_CHUNK", 2)
    stack = notify_stack(**NO_QUIET_HOURS)
    api = Api(stack)
    with_template(stack)
    numbers = [f"49151000002{n:02d}" for n in range(7)]
    for n, number in enumerate(numbers):
        person(stack, number, name=f"Kunde {n}", consent=n not in (2, 5))
    created = campaign(api, stack, segment(api, {"country": ["DE"]}))
    assert api.post(f"/api/v1/campaigns/{created['id']}/start").status_code == 200
    done = until_status(api, created["id"], "done")
    assert done["excluded"] == {"opted out": 2}
    until_progress(api, created["id"], lambda p: p["sent"] == 5)
    sent = {number: [m["type"] for m in stack.graph.messages_to(number)] for number in numbers}
    assert sent == {number: ([] if n in (2, 5) else ["template"]) for n, number in enumerate(numbers)}


def test_pause_holds_what_was_not_sent_and_resume_sends_it_once(notify_stack: StackFactory) -> None:
    stack = notify_stack(messages_per_second=1, **NO_QUIET_HOURS)  # slow enough to pause in the middle
    api = Api(stack)
    with_template(stack)
    phones = [f"49151000001{i:02d}" for i in range(8)]
    for phone in phones:
        person(stack, phone)
    created = campaign(api, stack, segment(api, {"consent": "marketing"}))
    api.post(f"/api/v1/campaigns/{created['id']}/start")
    until_progress(api, created["id"], lambda p: p["sent"] >= 1)

    paused = api.post(f"/api/v1/campaigns/{created['id']}/pause")
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    # Sends already handed to the channel finish; everything else is held.
    settled = until_progress(api, created["id"], lambda p: p["waiting"] == 0)["progress"]
    assert settled["held"] >= 1 and settled["sent"] + settled["held"] == 8
    sent_so_far = sum(len(stack.graph.messages_to(p)) for p in phones)
    assert sent_so_far == settled["sent"]
    assert api.post(f"/api/v1/campaigns/{created['id']}/pause").status_code == 409  # not running

    assert api.post(f"/api/v1/campaigns/{created['id']}/resume").json()["status"] == "running"
    until_progress(api, created["id"], lambda p: p["sent"] == 8, timeout=120)
    assert [len(stack.graph.messages_to(p)) for p in phones] == [1] * 8


def test_cancel_skips_what_was_not_sent(notify_stack: StackFactory) -> None:
    stack = notify_stack(messages_per_second=1, **NO_QUIET_HOURS)
    api = Api(stack)
    with_template(stack)
    for i in range(6):
        person(stack, f"49151000002{i:02d}")
    created = campaign(api, stack, segment(api, {}))
    api.post(f"/api/v1/campaigns/{created['id']}/start")
    until_progress(api, created["id"], lambda p: p["sent"] >= 1)
    assert api.post(f"/api/v1/campaigns/{created['id']}/cancel").json()["status"] == "cancelled"
    final = until_progress(api, created["id"], lambda p: p["waiting"] == 0 and p["held"] == 0)["progress"]
    assert final["sent"] + final["skipped"] == 6 and final["skipped"] >= 1
    assert set(final["skipped_by_reason"]) == {"campaign cancelled"}


def test_the_frequency_cap_spans_campaigns(notify_stack: StackFactory) -> None:
    stack = notify_stack(marketing_cap_messages=1, marketing_cap_days=7, **NO_QUIET_HOURS)
    api = Api(stack)
    with_template(stack)
    person(stack, "4915100000031")
    everyone = segment(api, {})
    first = campaign(api, stack, everyone)
    api.post(f"/api/v1/campaigns/{first['id']}/start")
    until_progress(api, first["id"], lambda p: p["sent"] == 1)

    second = campaign(api, stack, everyone, name="Second offer")
    preview = api.get(f"/api/v1/campaigns/{second['id']}/preview").json()
    assert preview["excluded"] == {"frequency cap": 1} and preview["eligible"] == 0
    api.post(f"/api/v1/campaigns/{second['id']}/start")
    done = until_status(api, second["id"], "done")
    assert done["excluded"] == {"frequency cap": 1} and done["progress"]["queued"] == 0
    assert len(stack.graph.messages_to("4915100000031")) == 1


def test_a_preview_and_the_send_agree_on_who_the_frequency_cap_leaves_out(notify_stack: StackFactory) -> None:
    stack = notify_stack(marketing_cap_messages=2, marketing_cap_days=7, **NO_QUIET_HOURS)
    api = Api(stack)
    with_template(stack)
    now = datetime.now(UTC)
    # (created, sent, status) of the marketing messages each customer already has.
    history = {
        "4915100000061": [(8, 6, "delivered"), (8, 5, "read")],  # queued 8 days ago, sent this week: capped
        "4915100000062": [(9, 8, "delivered"), (9, 8, "read")],  # sent 8 days ago: out of the window
        "4915100000063": [(1, 1, "failed"), (1, 1, "skipped")],  # never reached them: not counted
        "4915100000064": [(2, 2, "sent"), (1, 1, "unknown")],  # an unknown outcome counts (it may have gone)
        "4915100000065": [(3, 3, "delivered")],  # one of two
    }
    contacts: dict[str, int] = {}
    for phone, messages in history.items():
        contact_id = contacts[phone] = person(stack, phone)
        with stack.runtime.db.session() as session:
            for n, (created, sent, status) in enumerate(messages):
                session.add(
                    OutboundMessage(
                        channel_connection_id=stack.channel_id, contact_id=contact_id, recipient=phone,
                        kind="back_in_stock", payload={}, idempotency_key=f"earlier:{phone}:{n}", purpose="marketing",
                        status=status, created_at=now - timedelta(days=created), sent_at=now - timedelta(days=sent),
                    )
                )  # fmt: skip
    created = campaign(api, stack, segment(api, {}))

    preview = api.get(f"/api/v1/campaigns/{created['id']}/preview").json()
    assert preview["excluded"] == {"frequency cap": 2} and preview["eligible"] == 3
    with stack.runtime.db.session() as session:  # the rule each send applies says the same of every customer
        allowed = {
            phone
            for phone, contact_id in contacts.items()
            if frequency.allows(session, contact_id, datetime.now(UTC), stack.runtime.config.notify)[0]
        }
    assert allowed == {"4915100000062", "4915100000063", "4915100000065"}
    api.post(f"/api/v1/campaigns/{created['id']}/start")
    assert until_status(api, created["id"], "done")["excluded"] == {"frequency cap": 2}
    progress = until_progress(api, created["id"], lambda p: p["waiting"] == 0 and p["sent"] + p["skipped"] >= 3)
    assert progress["progress"]["sent"] == 3 and progress["progress"]["skipped"] == 0, progress
    reached = {phone for phone in history if stack.graph.messages_to(phone)}
    assert reached == {"4915100000062", "4915100000063", "4915100000065"}


def test_a_preview_counts_the_marketing_messages_still_queued(notify_stack: StackFactory) -> None:
    stack = notify_stack(marketing_cap_messages=1, marketing_cap_days=7, **NO_QUIET_HOURS)
    api = Api(stack)
    contact_id = person(stack, "4915100000071")
    person(stack, "4915100000072")
    with stack.runtime.db.session() as session:  # an alert waiting for the quiet hours' end: it goes first
        session.add(
            OutboundMessage(
                channel_connection_id=stack.channel_id, contact_id=contact_id, recipient="4915100000071",
                kind="back_in_stock", payload={}, idempotency_key="waiting", purpose="marketing", status="deferred",
                deferred_until=datetime.now(UTC) + timedelta(hours=1),
            )
        )  # fmt: skip
    preview = api.get(f"/api/v1/segments/{segment(api, {})}/preview").json()
    assert preview["excluded"] == {"frequency cap": 1} and preview["eligible"] == 1


def test_quiet_hours_defer_to_their_end_in_the_customers_time_zone(notify_stack: StackFactory) -> None:
    berlin = datetime.now(ZoneInfo("Europe/Berlin"))
    start, end = (berlin - timedelta(hours=1)).strftime("%H:%M"), (berlin + timedelta(hours=1)).strftime("%H:%M")
    stack = notify_stack(quiet_hours_start=start, quiet_hours_end=end, reach_limit=2000)
    api = Api(stack)
    with_template(stack)
    person(stack, "4915100000041")
    created = campaign(api, stack, segment(api, {}))
    api.post(f"/api/v1/campaigns/{created['id']}/start")

    [row] = wait_for(lambda: [r for r in rows(stack, kind="campaign") if r.status == "deferred"] or None)
    # The reason names the customer's local quiet hours and when the message goes (the checkout reminders' rule).
    assert row.reason.startswith(f"quiet hours of the customer ({start}-{end} Europe/Berlin)"), row.reason
    assert row.deferred_until is not None
    local_end = row.deferred_until.astimezone(ZoneInfo("Europe/Berlin"))
    assert local_end.strftime("%H:%M") == end and local_end > berlin
    assert stack.graph.messages_to("4915100000041") == []


def test_the_budget_cap_stops_the_fan_out_and_a_raised_cap_goes_on(notify_stack: StackFactory) -> None:
    stack = notify_stack(**NO_QUIET_HOURS)
    api = Api(stack)
    with_template(stack)
    phones = [f"49151000005{i}" for i in range(3)]
    for phone in phones:
        person(stack, phone)
    created = campaign(api, stack, segment(api, {}), budget_cap=0.30)  # two German messages at 0.1365

    api.post(f"/api/v1/campaigns/{created['id']}/start")
    paused = until_status(api, created["id"], "paused")
    assert paused["status_reason"].startswith("budget cap of 0.3 reached")
    assert until_progress(api, created["id"], lambda p: p["sent"] == 2)["progress"]["queued"] == 2

    resumed = api.post(f"/api/v1/campaigns/{created['id']}/resume", json={"budget_cap": 1.0})
    assert resumed.status_code == 200, resumed.text
    until_status(api, created["id"], "done")
    until_progress(api, created["id"], lambda p: p["sent"] == 3)
    assert [len(stack.graph.messages_to(p)) for p in phones] == [1, 1, 1]


def test_wrong_requests_are_refused_with_the_reason(notify_stack: StackFactory) -> None:
    stack = notify_stack(**NO_QUIET_HOURS)
    api = Api(stack)
    everyone = segment(api, {})
    base = {
        "segment_id": everyone,
        "channel_connection_id": stack.channel_id,
        "template": TEMPLATE,
        "language": "en_US",
    }
    for wrong, word in (
        ({**base, "parameters": ["{coupon}"]}, "placeholder"),
        ({**base, "language": "english"}, "language"),
        ({**base, "budget_cap": -1}, "budget_cap"),
        ({**base, "scheduled_at": "tomorrow"}, "scheduled_at"),
        ({**base, "segment_id": "1"}, "integers"),
    ):
        answer = api.post("/api/v1/campaigns", json=wrong)
        assert answer.status_code == 400 and word in answer.json()["message"], answer.text
    assert api.post("/api/v1/campaigns", json={**base, "segment_id": 999_999}).status_code == 404
    assert api.post("/api/v1/campaigns", json={**base, "channel_connection_id": 999_999}).status_code == 404
    assert api.post("/api/v1/campaigns", data="not json").status_code == 400
    assert api.get("/api/v1/campaigns/999999").status_code == 404
    assert api.post("/api/v1/campaigns/999999/pause").status_code == 404


def test_a_scheduled_campaign_waits_for_its_time(notify_stack: StackFactory) -> None:
    stack = notify_stack(**NO_QUIET_HOURS)
    api = Api(stack)
    with_template(stack)
    person(stack, "4915100000061")
    at = datetime.now(UTC) + timedelta(seconds=3)
    created = campaign(api, stack, segment(api, {}), scheduled_at=at.isoformat())
    started = api.post(f"/api/v1/campaigns/{created['id']}/start").json()
    assert started["status"] == "scheduled" and started["progress"]["queued"] == 0
    until_progress(api, created["id"], lambda p: p["sent"] == 1)
    [row] = rows(stack, kind="campaign")
    assert row.created_at >= at  # queued at its time, not before
