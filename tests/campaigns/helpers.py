"""Helpers of the campaign tests: customers with consent, the admin API, a marketing template."""

from __future__ import annotations

from typing import Any

import requests

from connector.api.auth import create_token
from connector.db.models import Contact
from connector.notify.consent import record_opt_in, record_opt_out
from connector.notify.contacts import contact_for_phone
from tests.conftest import WAIT_BOUND, Stack, wait_for

TEMPLATE = "winter_sale"
#: The quiet hours off, so tests run at any time of day (one test turns them on).
NO_QUIET_HOURS = {"quiet_hours_start": "00:00", "quiet_hours_end": "00:00", "reach_limit": 2000}


class Api:
    """The stack's admin API over real HTTP."""

    def __init__(self, stack: Stack):
        self.base = stack.url
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {create_token(stack.runtime, 'campaign-tests')}"

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.http.get(self.base + path, timeout=30, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.http.post(self.base + path, timeout=30, **kwargs)


def person(
    stack: Stack, phone: str, *, name: str = "Erika Muster", locale: str | None = "de", consent: bool | None = True
) -> int:
    """A WhatsApp contact; ``consent``: marketing opt-in (True), opted out after one (False), never asked (None)."""
    rt = stack.runtime
    with rt.db.session() as session:
        contact = contact_for_phone(session, stack.shop_id, phone, name=name, locale=locale)
        assert contact is not None
        contact_id = contact.id
        if consent is not None:
            record_opt_in(
                rt,
                contact_id=contact_id,
                purpose="marketing",
                source="test",
                text="Offers on WhatsApp",
                session=session,
            )
    if consent is False:
        record_opt_out(rt, contact_id=contact_id, purpose="marketing", source="keyword", text="STOP")
    return contact_id


def with_template(stack: Stack) -> None:
    stack.graph.add_template(
        TEMPLATE, "Hi {{1}}, our winter sale starts now: {{2}} off with code {{3}}.", category="MARKETING"
    )


def campaign(api: Api, stack: Stack, segment_id: int, **extra: Any) -> dict[str, Any]:
    body = {
        "name": "Winter sale",
        "segment_id": segment_id,
        "channel_connection_id": stack.channel_id,
        "template": TEMPLATE,
        "language": "en_US",
        "parameters": ["{first_name}", "20%", "WINTER20"],
        **extra,
    }
    answer = api.post("/api/v1/campaigns", json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()


def segment(api: Api, filters: dict[str, Any], name: str = "Germans") -> int:
    answer = api.post("/api/v1/segments", json={"name": name, "filters": filters})
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


def until_status(api: Api, campaign_id: int, *statuses: str, timeout: float = WAIT_BOUND) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        found = api.get(f"/api/v1/campaigns/{campaign_id}").json()
        return found if found["status"] in statuses else None

    return wait_for(reached, timeout=timeout)


def until_progress(api: Api, campaign_id: int, check: Any, timeout: float = WAIT_BOUND) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        found = api.get(f"/api/v1/campaigns/{campaign_id}").json()
        return found if check(found["progress"]) else None

    return wait_for(reached, timeout=timeout)


def contact_phone(stack: Stack, contact_id: int) -> str:
    with stack.runtime.db.session() as session:
        contact = session.get(Contact, contact_id)
        assert contact is not None
        return contact.channel_user_id
