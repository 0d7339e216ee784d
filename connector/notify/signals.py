"""What the channel tells after the fact, acted on (WhatsApp, platform-changes-2026.md §3-§4).

* A message that **failed after it was accepted** (a ``failed`` status webhook) keeps its error code, and:

  - 131047 (the window had closed): a notification is re-sent once as its approved template (a new outbox row,
    idempotent); without a template that row is skipped with the reason;
  - 131049 (per-user marketing limit, the US block): no marketing to that customer for ``marketing_pause_hours``
    (resending within 24 h can block the account for that user);
  - 131050 (the customer stopped marketing inside WhatsApp): a marketing opt-out in the consent ledger, the
    status webhook as proof;
  - the undeliverable family (``undeliverable_codes``: 131026 ...): the contact is marked unreachable, and the
    next notification is skipped saying why (until the customer writes again or ``unreachable_hold_days`` pass).

* ``user_preferences`` (the customer stops or resumes marketing inside WhatsApp): the consent ledger, with the
  webhook as proof. A resume restores marketing only when WhatsApp's own stop had ended it.
* The rules the notification policy applies at send time: :func:`hold`, :func:`us_marketing_template`.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from connector import model
from connector.db.models import Contact, OutboundMessage
from connector.db.models_notify import ConsentEvent
from connector.notify.consent import record_opt_in, record_opt_out
from connector.notify.outbox import record_event

if TYPE_CHECKING:
    from connector.notify.settings import NotifySettings
    from connector.runtime import Runtime

log = logging.getLogger(__name__)

WINDOW_CLOSED = 131047
MARKETING_LIMIT = 131049
MARKETING_STOPPED = 131050
#: Consent sources of the stops WhatsApp reported (only these does a ``resume`` undo).
SOURCE_PREFERENCES = "whatsapp_user_preferences"
SOURCE_131050 = "whatsapp_131050"


def error_code(errors: list[dict[str, Any]]) -> int | None:
    """The first error code of a status's ``errors[]`` (Meta: key on the code, titles will go)."""
    for error in errors:
        code = error.get("code")
        if isinstance(code, int) and not isinstance(code, bool):
            return code
        if isinstance(code, str) and code.isdigit() and len(code) <= 9:
            return int(code)
    return None


def _proof(status: model.DeliveryStatus) -> str:
    """The status webhook as consent proof (its message id, time and errors)."""
    return json.dumps(
        {
            "webhook": "statuses",
            "id": status.message_id,
            "status": status.state.value,
            "recipient_id": status.recipient_id,
            "timestamp": status.timestamp.isoformat() if status.timestamp else None,
            "errors": status.errors,
        },
        sort_keys=True,
    )


def _describe(code: int, status: model.DeliveryStatus) -> str:
    error = next((e for e in status.errors if e.get("code") in (code, str(code))), {})
    title = str(error.get("title") or error.get("message") or "")
    details = str((error.get("error_data") or {}).get("details") or "")
    return f"{code} {title}".strip() + (f": {details}" if details and details != title else "")


def after_failure(
    rt: Runtime | None, session: Session, row_id: int, code: int | None, status: model.DeliveryStatus
) -> None:
    """Act on a ``failed`` status webhook for outbox row ``row_id`` (already marked failed with ``code``), in the
    webhook's transaction. Without ``rt`` (no queue at hand) a 131047 re-send is left out (logged)."""
    if code is None:
        return
    from connector.notify.settings import NotifySettings

    settings: NotifySettings = rt.config.notify if rt is not None else NotifySettings()
    row = session.execute(
        select(
            OutboundMessage.contact_id,
            OutboundMessage.kind,
            OutboundMessage.idempotency_key,
            OutboundMessage.notification,
            OutboundMessage.purpose,
            OutboundMessage.channel_connection_id,
            OutboundMessage.recipient,
        ).where(OutboundMessage.id == row_id)
    ).first()
    if row is None:
        return
    now = datetime.now(UTC)
    why = _describe(code, status)
    if code == WINDOW_CLOSED:
        _resend_as_template(rt, session, row_id, row, why)
    if row.contact_id is None:
        return
    if code == MARKETING_LIMIT:
        until = now + timedelta(hours=settings.marketing_pause_hours)
        reason = f"WhatsApp refused marketing to this customer ({why}) on {now:%Y-%m-%d %H:%M} UTC"
        session.execute(
            update(Contact)
            .where(Contact.id == row.contact_id)
            .values(marketing_paused_until=until, marketing_paused_reason=reason)
        )
        record_event(session, row_id, "failed", f"no marketing to this customer until {until:%Y-%m-%d %H:%M} UTC")
    elif code == MARKETING_STOPPED:
        record_opt_out(
            rt,
            contact_id=row.contact_id,
            purpose="marketing",
            source=SOURCE_131050,
            text=_proof(status),
            session=session,
            on_channel=True,
        )
        record_event(session, row_id, "failed", "the customer stopped marketing messages: recorded as an opt-out")
    elif code in settings.undeliverable_codes:
        _mark_unreachable(session, row_id, row.contact_id, why, now)


def _mark_unreachable(session: Session, row_id: int, contact_id: int, why: str, now: datetime) -> None:
    reason = f"WhatsApp could not deliver to this customer ({why}) on {now:%Y-%m-%d %H:%M} UTC"
    session.execute(
        update(Contact).where(Contact.id == contact_id).values(unreachable_at=now, unreachable_reason=reason)
    )
    record_event(session, row_id, "failed", "contact marked unreachable")


def after_refusal(rt: Runtime, session: Session, row_id: int, contact_id: int, code: int, error: str) -> None:
    """The channel refused a send outright with ``code`` (row ``row_id`` failed): an undeliverable code marks the
    contact as a failed status webhook does; a 131050 is a marketing opt-out with the refusal as proof."""
    now = datetime.now(UTC)
    if code == MARKETING_STOPPED:
        proof = json.dumps({"refusal": error, "code": code, "at": now.isoformat()}, sort_keys=True)
        record_opt_out(
            rt, contact_id=contact_id, purpose="marketing", source=SOURCE_131050, text=proof, session=session,
            on_channel=True,
        )  # fmt: skip
    elif code in rt.config.notify.undeliverable_codes:
        _mark_unreachable(session, row_id, contact_id, error, now)


def _resend_as_template(rt: Runtime | None, session: Session, row_id: int, row: Any, why: str) -> None:
    """A notification whose window had closed goes out again, once, as its template (a new row)."""
    spec = dict(row.notification or {})
    if row.notification is None:
        record_event(session, row_id, "failed", f"window closed ({why}); a chat reply has no template to fall back on")
        return
    if spec.get("force_template") or spec.get("resent_from"):
        record_event(session, row_id, "failed", f"window closed ({why}); it was the template already: not re-sent")
        return
    if rt is None:
        log.warning("outbox row %s failed with 131047 but no queue is at hand to re-send it as a template", row_id)
        return
    key = f"{row.idempotency_key}:template"[:255]
    if session.scalar(select(OutboundMessage.id).where(OutboundMessage.idempotency_key == key)) is not None:
        return  # the webhook came again
    spec.update(force_template=True, resent_from=row_id)
    table = OutboundMessage.__table__
    new_id: int = session.execute(
        insert(table).returning(table.c.id),
        {
            "channel_connection_id": row.channel_connection_id,
            "contact_id": row.contact_id,
            "recipient": row.recipient,
            "kind": row.kind,
            "payload": session.scalar(select(OutboundMessage.payload).where(OutboundMessage.id == row_id)),
            "idempotency_key": key,
            "purpose": row.purpose,
            "notification": spec,
            "status": "pending",
        },
    ).scalar_one()
    record_event(session, new_id, "pending", f"re-sent as a template: message {row_id} failed ({why})")
    record_event(session, row_id, "failed", f"window closed: re-sent as a template (message {new_id})")
    rt.queue.enqueue(
        "message.send",
        {"message_id": new_id, "channel_connection_id": row.channel_connection_id, "recipient": row.recipient},
        session=session,
    )


def apply_consent_signal(session: Session, channel_id: int, signal: model.ConsentSignal) -> None:
    """A ``user_preferences`` stop/resume into the consent ledger (the channel's entry as proof)."""
    from connector.chat.inbound import upsert_contact_in

    contact_id = upsert_contact_in(session, channel_id, signal.contact, None)
    proof = json.dumps(signal.proof, sort_keys=True)
    if signal.action == "stop":
        record_opt_out(
            None,
            contact_id=contact_id,
            purpose=signal.purpose,
            source=SOURCE_PREFERENCES,
            text=proof,
            session=session,
            on_channel=True,
        )
        return
    latest = session.execute(
        select(ConsentEvent.action, ConsentEvent.source)
        .where(ConsentEvent.contact_id == contact_id, ConsentEvent.purpose == signal.purpose)
        .order_by(ConsentEvent.id.desc())
        .limit(1)
    ).first()
    if latest is None or latest.action != "opt_out" or latest.source not in (SOURCE_PREFERENCES, SOURCE_131050):
        # Resuming WhatsApp's marketing is no opt-in to ours: only a stop WhatsApp reported is undone.
        log.info("channel %s: contact %s resumed %s inside WhatsApp; no WhatsApp stop to undo", channel_id,
                 contact_id, signal.purpose)  # fmt: skip
        return
    record_opt_in(
        None,
        contact_id=contact_id,
        purpose=signal.purpose,
        source=SOURCE_PREFERENCES,
        text=proof,
        session=session,
        on_channel=True,
    )


def hold(settings: NotifySettings, contact: Contact, purpose: str, now: datetime) -> tuple[str, str, datetime | None]:
    """What the channel's signals say about notifying ``contact`` now: ``("send", "", None)``, ``("skip", why,
    None)`` (marked unreachable) or ``("defer", why, until)`` (marketing paused after a 131049)."""
    if contact.unreachable_at is not None and now - contact.unreachable_at < timedelta(
        days=settings.unreachable_hold_days
    ):
        return "skip", contact.unreachable_reason or "the channel reported the customer unreachable", None
    paused = contact.marketing_paused_until
    if purpose == "marketing" and paused is not None and paused > now:
        return "defer", contact.marketing_paused_reason or "marketing to this customer is paused", paused
    return "send", "", None


def us_marketing_template(settings: NotifySettings, phone: str | None) -> bool:
    """True when a marketing template would go to a US (+1) number, which WhatsApp does not deliver (131049)."""
    return settings.block_us_marketing_templates and bool(phone) and str(phone).lstrip("+").startswith("1")
