"""The contacts page shows what WhatsApp told about a contact after a send: unreachable (with why) and marketing
paused after a 131049."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from connector.dashboard.users import create_user
from connector.db.models import Contact
from connector.i18n import formatting
from connector.runtime import Runtime

from .conftest import EMAIL, PASSWORD
from .test_dashboard_app import login


def test_contacts_page_shows_unreachable_and_paused_marketing(runtime: Runtime, client: Any) -> None:
    shop = runtime.connections.create_shop(
        name="Shop", platform="woocommerce",
        settings={"shop_url": "https://shop.example", "consumer_key": "ck_x", "consumer_secret": "cs_x", "webhook_secret": "w"},
    )  # fmt: skip
    channel = runtime.connections.create_channel(
        shop_connection_id=shop.id, name="Number", channel="whatsapp",
        settings={"phone_number_id": "106540352242922", "access_token": "t", "app_secret": "s", "verify_token": "v"},
    )  # fmt: skip
    paused = datetime.now(UTC) + timedelta(hours=20)
    with runtime.db.session() as session:
        session.add_all(
            [
                Contact(
                    channel_connection_id=channel.id, channel_user_id="4915112340001", phone="+4915112340001",
                    name="Unreachable Ulla", unreachable_at=datetime.now(UTC),
                    unreachable_reason="WhatsApp could not deliver to this customer (131026 Message undeliverable)",
                ),
                Contact(
                    channel_connection_id=channel.id, channel_user_id="4915112340002", phone="+4915112340002",
                    name="Paused Paul", marketing_paused_until=paused, marketing_paused_reason="131049",
                ),
            ]
        )  # fmt: skip
    create_user(runtime, EMAIL, PASSWORD)
    login(client)
    page = client.get("/dashboard/contacts").text
    assert "unreachable" in page and "131026 Message undeliverable" in page
    # With its weekday and date, in the viewer's language and [dashboard] time_zone (UTC by default), in a <time>
    # that the viewer's browser then shows in their own time zone.
    text = html.unescape(re.sub(r"<[^>]+>", "", page))
    assert f"no marketing until {formatting.date_time(paused, 'en', 'UTC')} UTC" in text
