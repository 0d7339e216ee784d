"""The dashboard's Campaigns page over real HTTP, in English and German: segments and their preview, campaigns with
their progress and controls, what chat earned."""

from __future__ import annotations

import re

import requests

from connector.dashboard.users import create_user
from tests.campaigns.helpers import (
    NO_QUIET_HOURS,
    Api,
    campaign,
    person,
    segment,
    until_progress,
    until_status,
    with_template,
)
from tests.notify.conftest import StackFactory

PASSWORD = "correct horse battery"


def _logged_in(base: str, language: str) -> tuple[requests.Session, str]:
    http = requests.Session()
    http.headers["Accept-Language"] = language
    token = re.search(r'name="csrf_token" value="([^"]+)"', http.get(f"{base}/dashboard/login", timeout=30).text)
    assert token
    answer = http.post(
        f"{base}/dashboard/login",
        data={"csrf_token": token.group(1), "email": "owner@example.com", "password": PASSWORD},
        timeout=30,
    )
    assert answer.status_code == 200 and "/dashboard/login" not in answer.url, answer.text[:300]
    page = http.get(f"{base}/dashboard/campaigns", timeout=30).text
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    return http, found.group(1) if found else ""


def test_the_campaigns_page_shows_previews_progress_and_controls_in_english_and_german(
    notify_stack: StackFactory,
) -> None:
    stack = notify_stack(**NO_QUIET_HOURS)
    create_user(stack.runtime, "owner@example.com", PASSWORD)
    api = Api(stack)
    with_template(stack)
    person(stack, "4915100000091", name="Erika Muster")
    person(stack, "4915100000092", consent=False)
    everyone = segment(api, {"country": ["DE"]}, name="Stammkunden")
    sent = campaign(api, stack, everyone, name="Wintersale")
    api.post(f"/api/v1/campaigns/{sent['id']}/start")
    until_progress(api, sent["id"], lambda p: p["delivered"] == 1)
    too_dear = campaign(api, stack, everyone, name="Zu teuer", budget_cap=0.1)  # one German message is 0.1365
    api.post(f"/api/v1/campaigns/{too_dear['id']}/start")
    until_status(api, too_dear["id"], "paused")
    draft = campaign(api, stack, everyone, name="Frühling")

    http, csrf = _logged_in(stack.url, "de")
    page = http.get(f"{stack.url}/dashboard/campaigns", timeout=30).text
    assert "Kampagnen" in page and "Stammkunden" in page and "Wintersale" in page
    assert "gesendet 1" in page and "zugestellt 1" in page
    # Reasons the connector stored in English, in the viewer's language (values filled in as stored).
    assert "abgemeldet: 1" in page and "opted out" not in page
    assert "Budgetobergrenze von 0.1 erreicht: Erhöhen Sie sie und setzen Sie fort" in page
    assert "budget cap of" not in page
    assert "Was der Chat eingebracht hat" in page
    preview = http.get(f"{stack.url}/dashboard/campaigns/segments/{everyone}", timeout=30).text
    assert "hat Marketing-Nachrichten mit STOP abbestellt" in preview and "0.1365" in preview

    english, _ = _logged_in(stack.url, "en")
    shown = english.get(f"{stack.url}/dashboard/campaigns", timeout=30).text
    assert "opted out: 1" in shown and "budget cap of 0.1 reached: raise it and resume to reach the rest" in shown
    assert (
        "said STOP to marketing messages"
        in english.get(f"{stack.url}/dashboard/campaigns/segments/{everyone}", timeout=30).text
    )

    # The controls: the draft is started from the page; a campaign of nobody's is a 404.
    answer = http.post(
        f"{stack.url}/dashboard/campaigns/{draft['id']}/control",
        data={"csrf_token": csrf, "action": "start"},
        timeout=30,
    )
    assert answer.status_code == 200
    assert api.get(f"/api/v1/campaigns/{draft['id']}").json()["status"] in ("running", "done")
    missing = http.post(
        f"{stack.url}/dashboard/campaigns/999999/control", data={"csrf_token": csrf, "action": "pause"}, timeout=30
    )
    assert missing.status_code == 404
    assert http.get(f"{stack.url}/dashboard/campaigns/segments/999999", timeout=30).status_code == 404
