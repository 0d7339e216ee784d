"""Campaigns that feature products, over real HTTP: the owner picks up to 10 products, the campaign's approved
product-card carousel template goes to each contact with one card per product still for sale (its image, title and
price come from the WhatsApp catalog, its View button opens it), one billed marketing message per contact."""

from __future__ import annotations

from typing import Any

from tests.campaigns.helpers import NO_QUIET_HOURS, Api, person, segment, until_progress, until_status
from tests.conftest import Stack, wait_for
from tests.notify.conftest import StackFactory, rows

CAROUSEL = "featured_shirts"


def carousel_template(stack: Stack, cards: int = 3) -> None:
    """A product-card carousel template as Meta defines one: a body, and cards of a PRODUCT header and a View
    (SPM) button."""
    card = {"components": [{"type": "HEADER", "format": "PRODUCT"}, {"type": "BUTTONS", "buttons": [{"type": "SPM", "text": "View"}]}]}  # fmt: skip
    stack.graph.control(
        "POST",
        "templates",
        json={
            "name": CAROUSEL,
            "language": "en_US",
            "category": "MARKETING",
            "components": [
                {"type": "BODY", "text": "Hi {{1}}, new in for winter:"},
                {"type": "CAROUSEL", "cards": [card] * cards},
            ],
        },
    )


def in_stock(stack: Stack, count: int) -> list[str]:
    """``count`` variants the catalog holds in stock (their ids are the catalog's retailer ids)."""
    stack.full_sync()
    catalog = stack.catalog()
    found = [v for v in stack.shop.variant_ids() if catalog.get(v, {}).get("availability") == "in stock"]
    assert len(found) >= count
    return found[:count]


def featured(api: Api, stack: Stack, segment_id: int, products: Any) -> Any:
    body = {
        "name": "Winter shirts",
        "segment_id": segment_id,
        "channel_connection_id": stack.channel_id,
        "template": CAROUSEL,
        "language": "en_US",
        "parameters": ["{first_name}"],
        "products": products,
    }
    return api.post("/api/v1/campaigns", json=body)


def cards_of(message: dict[str, Any]) -> list[str]:
    [carousel] = [c for c in message["template"]["components"] if c["type"] == "carousel"]
    assert [card["card_index"] for card in carousel["cards"]] == list(range(len(carousel["cards"])))
    return [card["components"][0]["parameters"][0]["product"]["product_retailer_id"] for card in carousel["cards"]]


def test_a_campaign_sends_its_featured_products_as_cards_leaving_out_a_sold_out_one(notify_stack: StackFactory) -> None:
    stack = notify_stack(**NO_QUIET_HOURS)
    api = Api(stack)
    carousel_template(stack)
    shirts = in_stock(stack, 3)
    person(stack, "4915100000031", name="Erika Muster")
    person(stack, "4915100000032", name="Max Mustermann")
    person(stack, "4915100000033", consent=False)  # said STOP: gets nothing
    germans = segment(api, {"country": ["DE"]})

    # Refused with the reason: more than 10 products, a product the number's catalog does not hold.
    too_many = featured(api, stack, germans, [f"p{i}" for i in range(11)])
    assert too_many.status_code == 400 and "at most 10" in too_many.json()["message"]
    unknown = featured(api, stack, germans, [shirts[0], "no-such-shirt"])
    assert unknown.status_code == 400 and "no-such-shirt" in unknown.json()["message"]
    assert featured(api, stack, germans, "not a list").status_code == 400

    created = featured(api, stack, germans, shirts)
    assert created.status_code == 201, created.text
    campaign = created.json()
    assert campaign["products"] == shirts

    # The preview shows the cards (as the catalog has them) and the cost: one marketing message per contact.
    preview = api.get(f"/api/v1/campaigns/{campaign['id']}/preview").json()
    assert [c["retailer_id"] for c in preview["cards"] if c["shown"]] == shirts
    assert all(c["title"] and c["image_url"] for c in preview["cards"])
    assert preview["eligible"] == 2 and preview["cost"]["total"] == round(2 * 0.1365, 4)

    # One product sells out before the send: it is left out of the cards (the preview says so too).
    stack.shop.set_stock(shirts[1], 0)
    wait_for(lambda: stack.catalog()[shirts[1]]["availability"] == "out of stock")
    preview = api.get(f"/api/v1/campaigns/{campaign['id']}/preview").json()
    assert [(c["retailer_id"], c["left_out"]) for c in preview["cards"]] == [
        (shirts[0], None),
        (shirts[1], "sold out"),
        (shirts[2], None),
    ]

    assert api.post(f"/api/v1/campaigns/{campaign['id']}/start").status_code == 200
    until_status(api, campaign["id"], "done")
    progress = until_progress(api, campaign["id"], lambda p: p["delivered"] == 2)["progress"]
    assert progress["sent"] == 2 and progress["failed"] == 0 and progress["cost"] == round(2 * 0.1365, 4)

    catalog = stack.catalog()
    for phone, first_name in (("4915100000031", "Erika"), ("4915100000032", "Max")):
        [message] = stack.graph.messages_to(phone)  # one message, however many cards
        assert message["type"] == "template" and message["template"]["name"] == CAROUSEL
        body = next(c for c in message["template"]["components"] if c["type"] == "body")
        assert [p["text"] for p in body["parameters"]] == [first_name]
        shown = cards_of(message)
        assert shown == [shirts[0], shirts[2]]
        # What each card shows comes from the catalog: the product's image, title and price.
        assert all(catalog[rid]["image_link"].startswith("http") and catalog[rid]["title"] for rid in shown)
    assert stack.graph.messages_to("4915100000033") == []
    billed = rows(stack, kind="campaign")
    assert [(r.category, r.cost) for r in billed] == [("marketing", 0.1365)] * 2


def test_a_campaign_whose_products_all_sold_out_sends_nothing_and_says_why(notify_stack: StackFactory) -> None:
    stack = notify_stack(**NO_QUIET_HOURS)
    api = Api(stack)
    carousel_template(stack, cards=1)
    [shirt] = in_stock(stack, 1)
    person(stack, "4915100000041")
    created = featured(api, stack, segment(api, {"country": ["DE"]}), [shirt])
    assert created.status_code == 201, created.text
    stack.shop.set_stock(shirt, 0)
    wait_for(lambda: stack.catalog()[shirt]["availability"] == "out of stock")

    campaign_id = created.json()["id"]
    api.post(f"/api/v1/campaigns/{campaign_id}/start")
    until_status(api, campaign_id, "done")
    progress = until_progress(api, campaign_id, lambda p: p["skipped"] == 1)["progress"]
    assert progress["sent"] == 0 and progress["cost"] == 0
    [(reason, count)] = progress["skipped_by_reason"].items()
    assert "sold out" in reason and count == 1
    assert stack.graph.messages_to("4915100000041") == []


def test_the_dashboard_creates_a_campaign_with_featured_products_and_previews_its_cards(
    notify_stack: StackFactory,
) -> None:
    from connector.dashboard.users import create_user
    from tests.campaigns.test_dashboard import PASSWORD, _logged_in

    stack = notify_stack(**NO_QUIET_HOURS)
    create_user(stack.runtime, "owner@example.com", PASSWORD)
    api = Api(stack)
    carousel_template(stack, cards=2)
    shirts = in_stock(stack, 2)
    person(stack, "4915100000051")
    germans = segment(api, {"country": ["DE"]}, name="Stammkunden")
    http, csrf = _logged_in(stack.url, "de")
    form = {
        "csrf_token": csrf,
        "name": "Hemden",
        "segment_id": str(germans),
        "channel_connection_id": str(stack.channel_id),
        "template": CAROUSEL,
        "language": "en_US",
        "parameters": "{first_name}",
        "products": f"{shirts[0]}, {shirts[1]}",
        "budget_cap": "0",
    }
    page = http.post(f"{stack.url}/dashboard/campaigns/new", data=form, timeout=30).text
    assert "Hemden" in page and "2 vorgestellte Produkte" in page
    [created] = api.get("/api/v1/campaigns").json()["items"]
    assert created["products"] == shirts and created["status"] == "draft"

    preview = http.get(f"{stack.url}/dashboard/campaigns/{created['id']}/preview", timeout=30).text
    catalog = stack.catalog()
    assert "Produktkarten" in preview and all(catalog[s]["title"] in preview for s in shirts)
    assert "0.1365" in preview  # one marketing message to the one contact

    # A product the catalog does not hold: refused with the reason, nothing created.
    wrong = http.post(f"{stack.url}/dashboard/campaigns/new", data={**form, "products": "no-such-shirt"}, timeout=30)
    assert "no-such-shirt" in wrong.text
    assert len(api.get("/api/v1/campaigns").json()["items"]) == 1
    other = http.post(f"{stack.url}/dashboard/campaigns/new", data={**form, "channel_connection_id": "999"}, timeout=30)
    assert other.status_code == 404


def test_a_featured_products_campaign_keeps_the_frequency_cap(notify_stack: StackFactory) -> None:
    from datetime import UTC, datetime, timedelta

    from connector.db.models import OutboundMessage

    stack = notify_stack(marketing_cap_messages=1, **NO_QUIET_HOURS)
    api = Api(stack)
    carousel_template(stack, cards=2)
    shirts = in_stock(stack, 2)
    person(stack, "4915100000061")
    capped = person(stack, "4915100000062")
    with stack.runtime.db.session() as session:  # one marketing message this week already: the cap of 1 is reached
        session.add(
            OutboundMessage(
                channel_connection_id=stack.channel_id, contact_id=capped, recipient="4915100000062",
                kind="back_in_stock", payload={}, idempotency_key="earlier", purpose="marketing", status="delivered",
                sent_at=datetime.now(UTC) - timedelta(days=1),
            )
        )  # fmt: skip
    created = featured(api, stack, segment(api, {"country": ["DE"]}), shirts)
    assert created.status_code == 201, created.text
    campaign_id = created.json()["id"]
    api.post(f"/api/v1/campaigns/{campaign_id}/start")
    done = until_status(api, campaign_id, "done")
    assert done["excluded"] == {"frequency cap": 1}
    until_progress(api, campaign_id, lambda p: p["delivered"] == 1)
    assert cards_of(stack.graph.messages_to("4915100000061")[0]) == shirts
    assert stack.graph.messages_to("4915100000062") == []
