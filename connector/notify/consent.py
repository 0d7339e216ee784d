"""Consent (GDPR): opt-ins per purpose with proof, opt-outs, and the STOP/START keywords.

Purposes: ``utility`` (order updates) and ``marketing`` (back-in-stock, unless configured as utility). No
business-initiated message goes out without a granted consent for its purpose; every opt-in keeps its source,
time and the text the customer agreed to (:class:`~connector.db.models_notify.ConsentEvent`).

A customer's STOP on the channel holds until the customer opts in again on the channel (START, a purchase or a
confirmation in chat): an opt-in from anywhere else (a web form, the admin API, an import) is refused with
:class:`ConsentRefused`. Opt-ins from the web are only requests until confirmed (:mod:`connector.notify.double_opt_in`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from connector.db.models_notify import Consent, ConsentEvent

if TYPE_CHECKING:
    from connector.runtime import Runtime

PURPOSES = ("utility", "marketing")

#: Keywords (case-insensitive, the whole message) that stop every notification, German and English.
STOP_WORDS = frozenset({"stop", "stopp", "abmelden", "unsubscribe", "abbestellen", "stop alerts", "austragen"})
#: Keywords that opt back in to every purpose.
START_WORDS = frozenset({"start", "anmelden", "subscribe", "unstop"})

_CLEAN = re.compile(r"[\s!.,;:]+")


def _normalise(text: str) -> str:
    return _CLEAN.sub(" ", text or "").strip().lower()


def is_consent_keyword(text: str) -> bool:
    """True when ``text`` is a STOP/STOPP/ABMELDEN or START keyword (the notify subsystem answers those)."""
    word = _normalise(text)
    return word in STOP_WORDS or word in START_WORDS


def keyword_action(text: str) -> str | None:
    """``"stop"``, ``"start"`` or ``None``."""
    word = _normalise(text)
    if word in STOP_WORDS:
        return "stop"
    if word in START_WORDS:
        return "start"
    return None


_CONSENTS = Consent.__table__
#: The contact's consent row for a purpose, and the audit trail's INSERT: plain statements built once (a purchase in
#: chat records an opt-in with every order).
_FIND = select(_CONSENTS.c.id).where(
    _CONSENTS.c.contact_id == bindparam("contact_id"), _CONSENTS.c.purpose == bindparam("purpose")
)
_ADD_EVENT = insert(ConsentEvent.__table__)


class ConsentRefused(ValueError):
    """An opt-in from outside the channel for a contact whose latest decision is their own STOP on the channel."""


def stopped_on_channel(session: Session, contact_id: int, purpose: str) -> bool:
    """True when the contact's latest consent event for ``purpose`` is an opt-out they sent on the channel."""
    latest = session.execute(
        select(ConsentEvent.action, ConsentEvent.on_channel)
        .where(ConsentEvent.contact_id == contact_id, ConsentEvent.purpose == purpose)
        .order_by(ConsentEvent.id.desc())
        .limit(1)
    ).first()
    return latest is not None and latest.action == "opt_out" and bool(latest.on_channel)


def _set(
    session: Session, contact_id: int, purpose: str, *, granted: bool, source: str, text: str, on_channel: bool
) -> None:
    if purpose not in PURPOSES:
        raise ValueError(f"purpose must be one of {', '.join(PURPOSES)}, got {purpose!r}")
    if granted and not on_channel and stopped_on_channel(session, contact_id, purpose):
        raise ConsentRefused(
            f"the customer sent STOP for {purpose} messages; only the customer can opt in again (by sending START)"
        )
    now = datetime.now(UTC)
    values: dict[str, object] = {"granted": granted, "updated_at": now}
    if granted:
        values.update(source=source, text=text, granted_at=now, revoked_at=None)
    else:
        values.update(revoked_at=now)
    found = session.scalar(_FIND, {"contact_id": contact_id, "purpose": purpose})
    if found is None:
        # A first opt-out still records where it came from (the row's source is the last opt-in's otherwise).
        session.execute(
            insert(_CONSENTS), {"contact_id": contact_id, "purpose": purpose, "source": source, "text": text, **values}
        )
    else:
        session.execute(update(_CONSENTS).where(_CONSENTS.c.id == found).values(**values))
    session.execute(
        _ADD_EVENT,
        {
            "contact_id": contact_id,
            "purpose": purpose,
            "action": "opt_in" if granted else "opt_out",
            "source": source,
            "text": text,
            "at": now,
            "on_channel": on_channel,
        },
    )


def record_opt_in(
    rt: Runtime | None,
    *,
    contact_id: int,
    purpose: str,
    source: str,
    text: str,
    session: Session | None = None,
    on_channel: bool = False,
) -> None:
    """Record that the contact agreed to ``purpose`` messages: where (``source``), now, and the ``text`` shown.

    ``on_channel``: the customer's own message on the channel is the opt-in (START, a purchase or a confirmation
    in chat); only such an opt-in overrides the customer's STOP, any other raises :class:`ConsentRefused`.
    With ``session``, the opt-in joins the caller's transaction (e.g. the order created in chat); ``rt`` is needed
    only without one."""
    if session is not None:
        _set(session, contact_id, purpose, granted=True, source=source, text=text, on_channel=on_channel)
        return
    assert rt is not None, "record_opt_in needs a runtime or a session"
    with rt.db.session() as own:
        _set(own, contact_id, purpose, granted=True, source=source, text=text, on_channel=on_channel)


def record_opt_out(
    rt: Runtime | None,
    *,
    contact_id: int,
    purpose: str,
    source: str,
    text: str = "",
    session: Session | None = None,
    on_channel: bool = False,
) -> None:
    """Record that the contact withdrew consent for ``purpose``; it takes effect for every unsent message.

    ``on_channel``: the customer said so on the channel (STOP); then only the customer can opt in again. ``rt`` is
    needed only without ``session``."""
    if session is not None:
        _set(session, contact_id, purpose, granted=False, source=source, text=text, on_channel=on_channel)
        return
    assert rt is not None, "record_opt_out needs a runtime or a session"
    with rt.db.session() as own:
        _set(own, contact_id, purpose, granted=False, source=source, text=text, on_channel=on_channel)


def consent_in(session: Session, contact_id: int, purpose: str) -> bool:
    """``has_consent`` inside an open transaction."""
    granted = session.scalar(
        select(Consent.granted).where(Consent.contact_id == contact_id, Consent.purpose == purpose)
    )
    return bool(granted)


def has_consent(rt: Runtime, contact_id: int, purpose: str) -> bool:
    """True when the contact's latest decision for ``purpose`` is an opt-in."""
    with rt.db.session() as session:
        return consent_in(session, contact_id, purpose)
