"""Per-contact conversation state in the database, and the short lease that serialises one contact's messages.

The handler of an inbound message works on an in-memory :class:`Conversation`, then writes it back in
the same transaction as its replies (:func:`save`), together with the id of the message it answered.
A second run for an already answered message sees that id and does nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from connector.db import dml
from connector.db.models_conversation import ConversationState

if TYPE_CHECKING:
    from connector.runtime import Runtime


#: Keys of ``Conversation.data`` that outlive a flow.
_KEPT = ("cart", "handled")


@dataclass(slots=True)
class Conversation:
    """The state of one contact's conversation while a message is handled."""

    contact_id: int
    language: str | None = None
    flow: str | None = None
    step: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    flow_expires_at: datetime | None = None
    address: dict[str, Any] | None = None
    verified_orders: list[str] = field(default_factory=list)
    last_inbound_id: int | None = None
    silent_until: datetime | None = None

    def start(self, flow: str, step: str | None, minutes: int, **data: Any) -> None:
        """Open ``flow`` at ``step`` with ``data``; it expires after ``minutes`` without an answer."""
        kept = {k: self.data[k] for k in _KEPT if k in self.data}
        self.flow, self.step, self.data = flow, step, {**kept, **data}
        self.flow_expires_at = datetime.now(UTC) + timedelta(minutes=minutes)

    def clear(self) -> None:
        """Close the open flow (the chat cart and the handled-message log survive: they are not the flow's)."""
        kept = {k: self.data[k] for k in _KEPT if k in self.data}
        self.flow = self.step = None
        self.data = kept
        self.flow_expires_at = None

    def handled(self, inbound_id: int) -> bool:
        """Whether the message ``inbound_id`` was answered already (a re-run after a crash)."""
        return inbound_id in self.data.get("handled", [])

    def mark_handled(self, inbound_id: int) -> None:
        """Remember ``inbound_id`` as answered (the last 50 are kept)."""
        self.data["handled"] = [*self.data.get("handled", []), inbound_id][-50:]

    def in_flow(self, now: datetime | None = None) -> str | None:
        """The open flow, or ``None`` when none is open or it expired."""
        if self.flow is None:
            return None
        if self.flow_expires_at is not None and self.flow_expires_at < (now or datetime.now(UTC)):
            return None
        return self.flow

    def silent(self, now: datetime | None = None) -> bool:
        """True while a person has the conversation and the bot must not answer."""
        return self.silent_until is not None and self.silent_until > (now or datetime.now(UTC))


def ensure_row(session: Session, contact_id: int) -> None:
    """Create the contact's state row if it has none yet (inside the caller's transaction)."""
    if session.scalar(select(ConversationState.id).where(ConversationState.contact_id == contact_id)):
        return
    try:
        with session.begin_nested():
            session.add(ConversationState(contact_id=contact_id, data={}, verified_orders=[]))
    except IntegrityError:
        pass  # created by a concurrent message of the same contact


def acquire(rt: Runtime, contact_id: int, owner_seconds: int) -> datetime | None:
    """Take the contact's lease for ``owner_seconds``; the lease's expiry, or ``None`` when someone holds it."""
    with rt.db.session() as session:
        ensure_row(session, contact_id)
        return acquire_in(session, contact_id, owner_seconds)


def acquire_in(session: Session, contact_id: int, owner_seconds: int) -> datetime | None:
    """:func:`acquire` inside the caller's transaction (the contact's state row must exist)."""
    now = datetime.now(UTC)
    until = now + timedelta(seconds=owner_seconds)
    taken = dml(
        session,
        update(ConversationState)
        .where(
            ConversationState.contact_id == contact_id,
            or_(ConversationState.locked_until.is_(None), ConversationState.locked_until < now),
        )
        .values(locked_until=until),
    ).rowcount
    return until if taken else None


_STATE = ConversationState.__table__
_STATE_COLUMNS = (
    "language",
    "flow",
    "step",
    "data",
    "flow_expires_at",
    "address",
    "verified_orders",
    "last_inbound_id",
    "silent_until",
)


#: Take a free (or expired) lease and read the state: one statement, built once.
_ACQUIRE = (
    update(_STATE)
    .where(
        _STATE.c.contact_id == bindparam("b_contact_id"),
        or_(
            _STATE.c.locked_until.is_(None),
            _STATE.c.locked_until < bindparam("b_now", type_=_STATE.c.locked_until.type),
        ),
    )
    .values(locked_until=bindparam("b_until", type_=_STATE.c.locked_until.type))
    .returning(*(_STATE.c[name] for name in _STATE_COLUMNS))
)


def acquire_and_load(session: Session, contact_id: int, owner_seconds: int) -> Conversation | None:
    """Take the contact's lease and load its conversation in one statement (creating the state row on first
    contact), inside the caller's transaction; ``None`` when someone else holds the lease."""
    now = datetime.now(UTC)
    until = now + timedelta(seconds=owner_seconds)
    row = session.execute(_ACQUIRE, {"b_contact_id": contact_id, "b_now": now, "b_until": until}).first()
    if row is None:
        # No row, or a row leased by another message of this contact: creating it already leased tells which.
        try:
            with session.begin_nested():
                session.execute(
                    insert(_STATE).values(contact_id=contact_id, data={}, verified_orders=[], locked_until=until)
                )
        except IntegrityError:
            return None  # leased by another message of this contact (or created by it just now)
        return Conversation(contact_id=contact_id)
    values = row._mapping
    return Conversation(
        contact_id=contact_id,
        language=values["language"],
        flow=values["flow"],
        step=values["step"],
        data=dict(values["data"] or {}),
        flow_expires_at=values["flow_expires_at"],
        address=dict(values["address"]) if values["address"] else None,
        verified_orders=list(values["verified_orders"] or []),
        last_inbound_id=values["last_inbound_id"],
        silent_until=values["silent_until"],
    )


def release(rt: Runtime, contact_id: int) -> None:
    """Give the lease back."""
    with rt.db.session() as session:
        session.execute(
            update(ConversationState).where(ConversationState.contact_id == contact_id).values(locked_until=None)
        )


def load(rt: Runtime, contact_id: int) -> Conversation:
    """The contact's stored conversation."""
    with rt.db.session() as session:
        return load_in(session, contact_id)


def load_in(session: Session, contact_id: int) -> Conversation:
    """:func:`load` inside the caller's transaction."""
    row = session.scalar(select(ConversationState).where(ConversationState.contact_id == contact_id))
    if row is None:
        return Conversation(contact_id=contact_id)
    return Conversation(
        contact_id=contact_id,
        language=row.language,
        flow=row.flow,
        step=row.step,
        data=dict(row.data or {}),
        flow_expires_at=row.flow_expires_at,
        address=dict(row.address) if row.address else None,
        verified_orders=list(row.verified_orders or []),
        last_inbound_id=row.last_inbound_id,
        silent_until=row.silent_until,
    )


#: The state written back, the lease kept or given back: statements built once (bound per call by column name).
_SAVE = update(_STATE).where(_STATE.c.contact_id == bindparam("b_contact_id"))


def save(session: Session, conversation: Conversation, inbound_id: int, *, release: bool = False) -> None:
    """Write ``conversation`` back, marking ``inbound_id`` as answered (inside the caller's transaction); with
    ``release``, the contact's lease is given back in the same statement."""
    values: dict[str, Any] = {
        "b_contact_id": conversation.contact_id,
        "language": conversation.language,
        "flow": conversation.flow,
        "step": conversation.step,
        "data": conversation.data,
        "flow_expires_at": conversation.flow_expires_at,
        "address": conversation.address,
        "verified_orders": conversation.verified_orders,
        "last_inbound_id": max(inbound_id, conversation.last_inbound_id or 0),
        "silent_until": conversation.silent_until,
        "updated_at": datetime.now(UTC),
    }
    if release:
        values["locked_until"] = None
    session.execute(_SAVE, values)
