"""Meta's Conversions API for business messaging: a paid order of a customer who came from a click-to-WhatsApp ad
is reported as a ``Purchase`` event (platform-changes-2026.md §10).

Off by default (``[notify] conversions_api_enabled``). The dataset id and token are the WhatsApp connection's
``capi_dataset_id`` and ``capi_access_token`` (secret fields: stored encrypted; the token defaults to the
connection's access token). The event row is added in the transaction that records the paid order and sent by a
task (:data:`SEND_TASK`), so a crash does not lose it; Meta's refusals are kept with the reason. A crash after Meta
accepted the event and before the connector recorded it sends the event again when the task is retried: with
``[notify] conversions_api_event_id`` the repeat carries the same ``event_id`` (:func:`event_id_of`, from the order)
for Meta to de-duplicate on (off by default: the reference payload has no ``event_id``, see docs/selling.md)::

    POST /v25.0/<DATASET_ID>/events?access_token=<TOKEN>
    {"data": [{"event_name": "Purchase", "event_time": 1767225600, "action_source": "business_messaging",
               "messaging_channel": "whatsapp",
               "user_data": {"whatsapp_business_account_id": "<WABA_ID>", "ctwa_clid": "<CTWA_CLID>"},
               "custom_data": {"currency": "EUR", "value": 123.45}}],
     "partner_agent": "chatshop"}
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import requests
from sqlalchemy import select

from connector.db.models import ChannelConnection, Contact, InboundMessage
from connector.db.models_sales import ConversionEvent, SalesOrder
from connector.errors import PlatformError
from connector.http import HttpClient
from connector.work.queue import Retry

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from connector.runtime import Runtime

log = logging.getLogger(__name__)

SEND_TASK = "campaigns.conversion_event"
PARTNER_AGENT = "chatshop"
#: Meta attributes purchases to an ad click for 7 days.
ATTRIBUTION = timedelta(days=7)
DEFAULT_GRAPH_URL = "https://graph.facebook.com"
DEFAULT_API_VERSION = "v25.0"
MAX_ATTEMPTS = 8


def ad_click(session: Session, contacts: list[int], now: datetime) -> tuple[int, str] | None:
    """``(contact id, ctwa_clid)`` of the newest click-to-WhatsApp ad the customer wrote from within 7 days."""
    if not contacts:
        return None
    rows = session.execute(
        select(InboundMessage.contact_id, InboundMessage.data)
        .where(
            InboundMessage.contact_id.in_(contacts),
            InboundMessage.has_referral.is_(True),
            InboundMessage.received_at >= now - ATTRIBUTION,
        )
        .order_by(InboundMessage.received_at.desc(), InboundMessage.id.desc())
    )
    for contact_id, data in rows:
        referral = data.get("referral") if isinstance(data, dict) else None
        if isinstance(referral, dict):
            clid = referral.get("ad_click_id") or referral.get("ctwa_clid")
            if isinstance(clid, str) and clid:
                return int(str(contact_id)), clid
    return None


def queue_for_order(rt: Runtime, session: Session, order: SalesOrder, contacts: list[int], now: datetime) -> int | None:
    """Add the order's event (and its send task) in ``session``'s transaction when the Conversions API is on and the
    customer came from an ad on a WhatsApp number with a dataset; returns the event's id."""
    if not rt.config.notify.conversions_api_enabled:
        return None
    click = ad_click(session, contacts, now)
    if click is None:
        return None
    contact = session.get(Contact, click[0])
    channel = session.get(ChannelConnection, contact.channel_connection_id) if contact is not None else None
    if channel is None or channel.channel != "whatsapp":
        return None
    if not rt.connections.settings_of(channel).get("capi_dataset_id"):
        log.info("order %s came from an ad, but channel %s has no Conversions API dataset", order.id, channel.id)
        return None
    event = ConversionEvent(order_id=order.id, channel_connection_id=channel.id, status="pending")
    session.add(event)
    session.flush()
    rt.queue.enqueue(
        SEND_TASK,
        {"event_id": event.id, "contact_id": click[0]},
        session=session,
        priority=60,
        idempotency_key=f"capi:{event.id}",
    )
    return event.id


def event_id_of(order: SalesOrder) -> str:
    """The order's event id: the same for every send of its event (a retry, a repeat after a crash)."""
    return f"order:{order.shop_connection_id}:{order.order_external_id}"


def payload(order: SalesOrder, waba_id: str, ctwa_clid: str, *, with_event_id: bool = False) -> dict[str, Any]:
    """The request body for one paid order (``with_event_id``: with its stable ``event_id``)."""
    event: dict[str, Any] = {
        "event_name": "Purchase",
        "event_time": int(order.paid_at.timestamp()),
        "action_source": "business_messaging",
        "messaging_channel": "whatsapp",
        "user_data": {"whatsapp_business_account_id": waba_id, "ctwa_clid": ctwa_clid},
        "custom_data": {"currency": order.currency, "value": round(order.total, 2)},
    }
    if with_event_id:
        event["event_id"] = event_id_of(order)
    return {"data": [event], "partner_agent": PARTNER_AGENT}


def _meta_error(response: requests.Response) -> str | None:
    try:
        error = response.json().get("error") or {}
    except ValueError:
        return None
    return str(error.get("message") or "") or None


def send(rt: Runtime, event_id: int, contact_id: int, attempt: int = 1) -> str:
    """Send one event; returns its new status (``sent`` or ``failed``), raises :class:`Retry` on a passing error."""
    with rt.db.session() as session:
        event = session.get(ConversionEvent, event_id)
        if event is None or event.status != "pending":
            return event.status if event is not None else "gone"
        order = session.get(SalesOrder, event.order_id)
        channel = session.get(ChannelConnection, event.channel_connection_id)
        assert order is not None and channel is not None
        settings = rt.connections.settings_of(channel)
        click = ad_click(session, [contact_id], order.paid_at)
        session.expunge(order)
    if click is None:
        return _finish(rt, event_id, "failed", "the ad click is no longer known")
    token = str(settings.get("capi_access_token") or settings.get("access_token") or "")
    client = HttpClient(
        str(settings.get("graph_url") or DEFAULT_GRAPH_URL),
        platform="Meta Conversions API",
        max_attempts=1,
        error_detail=_meta_error,
    )
    version = str(settings.get("api_version") or DEFAULT_API_VERSION)
    body = payload(
        order, str(settings.get("waba_id") or ""), click[1], with_event_id=rt.config.notify.conversions_api_event_id
    )
    try:
        response = client.post(
            f"{version}/{settings['capi_dataset_id']}/events", params={"access_token": token}, json=body
        )
    except PlatformError as error:
        if error.retryable and attempt < MAX_ATTEMPTS:
            raise Retry(error.retry_after or 30.0 * attempt, f"Conversions API: {error}") from None
        return _finish(rt, event_id, "failed", str(error))
    answer = response.json() if response.content else {}
    return _finish(rt, event_id, "sent", None, str(answer.get("fbtrace_id") or "") or None)


def _finish(rt: Runtime, event_id: int, status: str, error: str | None, trace: str | None = None) -> str:
    with rt.db.session() as session:
        event = session.get(ConversionEvent, event_id)
        if event is not None:
            event.status, event.error, event.fbtrace_id = status, error, trace
            event.attempts += 1
            event.sent_at = datetime.now(UTC) if status == "sent" else None
    if error:
        log.warning("Conversions API event %s %s: %s", event_id, status, error)
    return status
