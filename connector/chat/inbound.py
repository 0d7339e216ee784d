"""Inbound chat: contacts, customer messages (once per message id) and delivery statuses."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from connector import model
from connector.db import insert_id
from connector.db.models import Contact, OutboundMessage
from connector.db.models_notify import OutboxEvent
from connector.notify import billing
from connector.notify.outbox import ADD_EVENTS

if TYPE_CHECKING:
    from connector.runtime import Runtime

#: Outbox states in the order a message moves through them; a late "sent" never overwrites "read".
_RANK = {
    "pending": 0,
    "deferred": 0,
    "sending": 1,
    "unknown": 1,
    "sent": 2,
    "delivered": 3,
    "read": 4,
    "failed": 5,
    "skipped": 6,
}


#: The states a status may move a row out of (those ranked below it).
_LOWER = {new: [name for name, rank in _RANK.items() if rank < new_rank] for new, new_rank in _RANK.items()}

_OUTBOX = OutboundMessage.__table__
#: The statements of a status webhook, built once (most of a fan-out's webhooks are statuses).
_ROWS_BY_WAMID = select(_OUTBOX.c.id, _OUTBOX.c.channel_message_id, _OUTBOX.c.status).where(
    _OUTBOX.c.channel_connection_id == bindparam("channel_id"),
    _OUTBOX.c.channel_message_id.in_(bindparam("wamids", expanding=True)),
)
_MOVE = (
    update(_OUTBOX)
    .where(_OUTBOX.c.id.in_(bindparam("ids", expanding=True)), _OUTBOX.c.status.in_(bindparam("lower", expanding=True)))
    .values(status=bindparam("new"))
)
_EVENTS = OutboxEvent.__table__

#: How outbox timeline entries written from a channel's status webhook begin.
STATUS_WEBHOOK = "status webhook"
#: How the entry begins that notes a message id first learned from a status webhook.
RECONCILED = "reconciled from a status webhook"


def upsert_contact(rt: Runtime, channel_id: int, person: model.Contact, *, inbound_at: datetime | None = None) -> int:
    """The contact's id, creating it on first contact; updates name, phone and the 24-hour window start."""
    with rt.db.session() as session:
        return upsert_contact_in(session, channel_id, person, inbound_at)


_CONTACTS = Contact.__table__
#: The contact's row by channel user id: plain columns, built once (every customer message runs it).
_CONTACT_COLUMNS = (
    _CONTACTS.c.id,
    _CONTACTS.c.phone,
    _CONTACTS.c.name,
    _CONTACTS.c.locale,
    _CONTACTS.c.last_inbound_at,
    _CONTACTS.c.unreachable_at,
    _CONTACTS.c.user_id,
)
_FIND_CONTACT = select(*_CONTACT_COLUMNS).where(
    _CONTACTS.c.channel_connection_id == bindparam("channel_id"),
    _CONTACTS.c.channel_user_id == bindparam("user_id"),
)
#: A contact by business-scoped user id: someone we know by phone now writing with the number hidden, or the reverse.
_FIND_BY_BSUID = (
    select(*_CONTACT_COLUMNS)
    .where(_CONTACTS.c.channel_connection_id == bindparam("channel_id"), _CONTACTS.c.user_id == bindparam("bsuid"))
    .order_by(_CONTACTS.c.id)
    .limit(1)
)


def _find(session: Session, channel_id: int, person: model.Contact) -> Any:
    """The contact's row (``_CONTACT_COLUMNS``) by channel user id, else by business-scoped user id; ``None``."""
    found = session.execute(_FIND_CONTACT, {"channel_id": channel_id, "user_id": person.channel_user_id}).first()
    if found is None and person.user_id:
        found = session.execute(_FIND_BY_BSUID, {"channel_id": channel_id, "bsuid": person.user_id}).first()
    return found


def find_contact_in(session: Session, channel_id: int, person: model.Contact) -> int | None:
    """The id of the contact ``person`` is, without creating one."""
    found = _find(session, channel_id, person)
    return None if found is None else int(found.id)


def upsert_contact_in(session: Session, channel_id: int, person: model.Contact, inbound_at: datetime | None) -> int:
    """:func:`upsert_contact` inside the caller's transaction (e.g. with the message that came in). Writes only what
    changed: a name, phone or locale the channel told us now, a later start of the 24-hour window."""
    found = _find(session, channel_id, person)
    if found is None:
        values = {
            "channel_connection_id": channel_id,
            "channel_user_id": person.channel_user_id,
            "phone": person.phone or None,
            "name": person.name or "",
            "locale": person.locale or None,
            "last_inbound_at": inbound_at,
            "user_id": person.user_id or None,
        }
        return int(insert_id(session, insert(_CONTACTS), values))
    changes: dict[str, object] = {}
    told_fields = (
        ("phone", person.phone),
        ("name", person.name),
        ("locale", person.locale),
        ("user_id", person.user_id),
    )
    for column, told in told_fields:
        if told and told != getattr(found, column):
            changes[column] = told
    if inbound_at is not None and (found.last_inbound_at is None or inbound_at > found.last_inbound_at):
        changes["last_inbound_at"] = inbound_at
    marked = found.unreachable_at
    # They wrote to us since (channel times are whole seconds): reachable again (an updated app, accepted terms).
    if inbound_at is not None and marked is not None and inbound_at >= marked.replace(microsecond=0):
        changes.update(unreachable_at=None, unreachable_reason=None)
    if changes:
        session.execute(update(_CONTACTS).where(_CONTACTS.c.id == found.id).values(**changes))
    return int(found.id)


def apply_delivery_status(
    rt: Runtime,
    channel_id: int,
    status: model.DeliveryStatus,
    *,
    session: Session | None = None,
) -> None:
    """Move an outbox row forward (never backwards) from a channel status webhook.

    A status whose message id we never recorded (the process died between the channel's answer and our write)
    settles the oldest row to that recipient still ``sending``/``unknown`` without an id: the message did go out.
    With ``session``, it joins that transaction (the webhook request stores the event and applies its statuses
    together).
    """
    if session is None:
        with rt.db.session() as own:
            _apply_status(own, channel_id, status, rt)
        return
    _apply_status(session, channel_id, status, rt)


def apply_delivery_statuses(
    session: Session, channel_id: int, statuses: list[model.DeliveryStatus], rt: Runtime | None = None
) -> None:
    """:func:`apply_delivery_status` for a whole webhook's statuses in ``session``'s transaction, in a few
    statements: Meta folds up to hundreds of statuses into one webhook during a fan-out, and each statement
    there holds the write lock the senders wait for. Statuses apply in order (a later one in the same webhook
    sees the earlier ones' effect); the rare ones (a message id we never recorded, a failure) go one by one.
    ``rt``: a failure that re-sends a notification as its template queues it (:mod:`connector.notify.signals`)."""
    wanted = list({s.message_id for s in statuses})
    current: dict[str, tuple[int, str]] = {
        wamid: (message_id, status)
        for message_id, wamid, status in cast(
            "Iterable[tuple[int, str, str]]",
            session.execute(_ROWS_BY_WAMID, {"channel_id": channel_id, "wamids": wanted}),
        )
    }
    moves: dict[int, str] = {}
    events: list[dict[str, object]] = []
    priced: dict[int, dict[str, Any]] = {}
    now = datetime.now(UTC)
    # A status that comes before the send's answer is recorded (a fan-out's "sent" usually does) names its row by the
    # callback data we sent along: those rows are read together too, and their message ids noted in one statement.
    unrecorded = _unrecorded_rows(session, channel_id, statuses, current)
    noted: list[dict[str, object]] = []
    for status in statuses:
        found = current.get(status.message_id)
        if found is None and status.state is not model.DeliveryState.FAILED:
            row = unrecorded.pop(_row_id(status) or 0, None)
            if row is not None:
                row_id, row_status = row
                noted.append({"row_id": row_id, "wamid": status.message_id})
                events.append({"message_id": row_id, "status": row_status,
                               "detail": f"{RECONCILED}: {status.message_id}", "at": now})  # fmt: skip
                found = current[status.message_id] = row
        if found is None or status.state is model.DeliveryState.FAILED:
            _flush_moves(session, moves, events, noted)
            _apply_status(session, channel_id, status, rt)
            current.pop(status.message_id, None)  # read again if it comes up once more
            unrecorded.pop(_row_id(status) or 0, None)
            continue
        message_id, old = found
        billed = billing.billed_values(status)
        if billed is not None:
            priced[message_id] = billed
        new = status.state.value
        if _RANK.get(new, 0) <= _RANK.get(old, 0):
            events.append({"message_id": message_id, "status": old, "detail": f"{STATUS_WEBHOOK}: {new} (no change)",
                           "at": now})  # fmt: skip
            continue
        moves[message_id] = new
        current[status.message_id] = (message_id, new)
        events.append({"message_id": message_id, "status": new, "detail": STATUS_WEBHOOK, "at": now})
    _flush_moves(session, moves, events, noted)
    billing.store_billed(session, priced)


def _row_id(status: model.DeliveryStatus) -> int | None:
    """The outbox row id a status carries as its callback data (digits, no more than a 64-bit integer holds)."""
    data = status.callback_data
    return int(data) if data and data.isdigit() and len(data) <= 18 else None


def _unrecorded_rows(
    session: Session, channel_id: int, statuses: list[model.DeliveryStatus], current: dict[str, tuple[int, str]]
) -> dict[int, tuple[int, str]]:
    """The rows (``id -> (id, status)``) that statuses not found by message id name by callback data, still without
    a message id of their own; one query for the whole webhook."""
    ids = {
        row_id
        for s in statuses
        if s.message_id not in current
        and s.message_id
        and s.state is not model.DeliveryState.FAILED
        and (row_id := _row_id(s)) is not None
    }
    if not ids:
        return {}
    found = session.execute(_ROWS_BY_CALLBACK, {"channel_id": channel_id, "row_ids": list(ids)})
    return {row_id: (row_id, status) for row_id, status in cast("Iterable[tuple[int, str]]", found)}


def _flush_moves(
    session: Session, moves: dict[int, str], events: list[dict[str, object]], noted: list[dict[str, object]]
) -> None:
    """Write the collected message ids (one statement), status moves (one UPDATE per new status) and events (one
    INSERT)."""
    if noted:
        session.execute(_NOTE_WAMID, noted)
        noted.clear()
    by_status: dict[str, list[int]] = {}
    for message_id, new in moves.items():
        by_status.setdefault(new, []).append(message_id)
    for new, ids in by_status.items():
        # Never backwards, even if another transaction moved a row since it was read (PostgreSQL).
        session.execute(_MOVE, {"ids": ids, "lower": _LOWER.get(new, []), "new": new})
    if events:
        session.execute(ADD_EVENTS, events)
    moves.clear()
    events.clear()


#: The slow path's lookups (a status for a message id not recorded yet, or a failure): plain columns, built once.
_ROW_BY_WAMID = select(_OUTBOX.c.id, _OUTBOX.c.status).where(
    _OUTBOX.c.channel_connection_id == bindparam("channel_id"), _OUTBOX.c.channel_message_id == bindparam("wamid")
)
_ROW_BY_CALLBACK = select(_OUTBOX.c.id, _OUTBOX.c.status).where(
    _OUTBOX.c.id == bindparam("row_id"),
    _OUTBOX.c.channel_connection_id == bindparam("channel_id"),
    _OUTBOX.c.channel_message_id.is_(None),
)
#: The batch form of the two above: rows named by callback data, and their message ids noted (``_reconcile``).
_ROWS_BY_CALLBACK = select(_OUTBOX.c.id, _OUTBOX.c.status).where(
    _OUTBOX.c.id.in_(bindparam("row_ids", expanding=True)),
    _OUTBOX.c.channel_connection_id == bindparam("channel_id"),
    _OUTBOX.c.channel_message_id.is_(None),
)
_NOTE_WAMID = (
    update(_OUTBOX).where(_OUTBOX.c.id == bindparam("row_id")).values(channel_message_id=bindparam("wamid"), error=None)
)
_ROW_IN_DOUBT_FOR = (
    select(_OUTBOX.c.id, _OUTBOX.c.status)
    .where(
        _OUTBOX.c.channel_connection_id == bindparam("channel_id"),
        _OUTBOX.c.recipient == bindparam("recipient"),
        _OUTBOX.c.status.in_(("sending", "unknown")),
        _OUTBOX.c.channel_message_id.is_(None),
    )
    .order_by(_OUTBOX.c.id)
    .limit(1)
)


def _apply_watermark(session: Session, channel_id: int, status: model.DeliveryStatus, watermark: datetime) -> None:
    """Messenger's read watermark: every message to the reader that went out (its ``sent`` event) at or before
    ``watermark`` and is not read yet becomes read; a message sent later stays as it is."""
    from connector.notify.outbox import record_event

    sent_by_then = select(_EVENTS.c.message_id).where(_EVENTS.c.status == "sent", _EVENTS.c.at <= watermark)
    rows: list[int] = list(
        session.execute(
            select(_OUTBOX.c.id).where(
                _OUTBOX.c.channel_connection_id == channel_id,
                _OUTBOX.c.recipient == status.recipient_id,
                _OUTBOX.c.status.in_(("sent", "delivered")),
                _OUTBOX.c.id.in_(sent_by_then),
            )
        )
        .scalars()
        .all()
    )
    if not rows:
        return
    session.execute(update(_OUTBOX).where(_OUTBOX.c.id.in_(rows), _OUTBOX.c.status.in_(("sent", "delivered"))).values(
        status="read"))  # fmt: skip
    for row_id in rows:
        record_event(session, row_id, "read", f"{STATUS_WEBHOOK}: read up to {watermark.isoformat()}")


def _apply_status(session: Session, channel_id: int, status: model.DeliveryStatus, rt: Runtime | None = None) -> None:
    from connector.notify import signals
    from connector.notify.outbox import record_event

    if not status.message_id:
        if status.watermark is not None and status.state is model.DeliveryState.READ:
            _apply_watermark(session, channel_id, status, status.watermark)
        return  # names no message: nothing to settle (never taken for an in-doubt row)
    row = session.execute(_ROW_BY_WAMID, {"channel_id": channel_id, "wamid": status.message_id}).first()
    row_id = _row_id(status) if row is None else None
    if row_id is not None:
        # The row id we sent along (WhatsApp's biz_opaque_callback_data): exactly this message's row.
        row = session.execute(_ROW_BY_CALLBACK, {"row_id": row_id, "channel_id": channel_id}).first()
        if row is None:
            return  # its row has its message id already (another status got there first), or is not ours
        _reconcile(session, row.id, row.status, status.message_id, record_event)
    if row is None:
        # Without callback data (channels that echo none): the oldest in-doubt row to that recipient.
        row = session.execute(_ROW_IN_DOUBT_FOR, {"channel_id": channel_id, "recipient": status.recipient_id}).first()
        if row is None:
            return
        _reconcile(session, row.id, row.status, status.message_id, record_event)
    billed = billing.billed_values(status)
    if billed is not None:
        billing.store_billed(session, {row.id: billed})
    new = status.state.value
    if _RANK.get(new, 0) <= _RANK.get(row.status, 0):
        # Older news; still recorded: it shows how far the channel's status stream has come.
        record_event(session, row.id, row.status, f"{STATUS_WEBHOOK}: {new} (no change)")
        return
    values: dict[str, object] = {"status": new}
    detail = STATUS_WEBHOOK
    failed = status.state is model.DeliveryState.FAILED
    code = signals.error_code(status.errors) if failed else None
    if failed:
        error = "; ".join(_error_text(e) for e in status.errors) or "failed"
        values.update(error=error, error_code=code)
        detail = f"{STATUS_WEBHOOK}: {error}"
    session.execute(update(_OUTBOX).where(_OUTBOX.c.id == row.id).values(**values))
    record_event(session, row.id, new, detail)
    if failed:
        signals.after_failure(rt, session, row.id, code, status)


def _error_text(error: dict[str, Any]) -> str:
    """``131026 Message undeliverable``: the code first (Meta: key on it, titles will be deprecated)."""
    title = str(error.get("title") or error.get("message") or "")
    code = error.get("code")
    return f"{code} {title}".strip() if code is not None else (title or str(error))


def _reconcile(session: Session, row_id: int, row_status: str, wamid: str, record_event: Any) -> None:
    """Note the channel's message id on a row whose send did not record it (the status came first, or the process
    died before)."""
    session.execute(_NOTE_WAMID, {"row_id": row_id, "wamid": wamid})
    record_event(session, row_id, row_status, f"{RECONCILED}: {wamid}")
