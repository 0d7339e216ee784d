"""The outbound message outbox: a row first, then a ``message.send`` task that sends it once.

:func:`queue_message` writes the row (inside the caller's transaction when given a session, so a message exists
exactly when its cause does). The send task:

1. waits for the phone number's throughput limit and the recipient's pacing (:mod:`connector.ratelimit`);
2. for a notification, applies the rules of :mod:`connector.notify.policy` (consent, 24-hour window, template,
   cost, budget, reach), which end in ``skipped`` or ``deferred`` or in the message to send;
3. marks the row ``sending`` (with its price) *before* it calls the channel and records ``sent`` with the
   channel's message id after.

States: ``pending -> sending -> sent -> delivered -> read``, or ``failed``, ``skipped`` (reason), ``deferred``
(until, why). A process killed mid-send leaves ``sending``: the next run of the task marks it ``unknown`` and
never sends it blindly. A status webhook settles an unknown row (matched by recipient when its wamid was never
recorded); only when none came within ``[notify] unknown_grace_seconds`` and every channel webhook received so
far has been processed is it sent again, because then the channel never accepted it.
"""

from __future__ import annotations

import logging
import uuid
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from connector import model
from connector.db.models import ChannelConnection, Contact, OutboundMessage, WebhookEvent
from connector.errors import MessageLimitError, SendAction, SendError
from connector.notify import policy
from connector.notify.outbox import record_event
from connector.notify.render import Renderer
from connector.ratelimit import DatabaseStorage, MemoryStorage, RateLimiter, Storage
from connector.serialization import from_json, to_json
from connector.work.queue import Retry, backoff_seconds

if TYPE_CHECKING:
    from connector.runtime import Runtime
    from connector.work.registry import TaskContext, TaskRegistry

log = logging.getLogger(__name__)

#: Longest a send task waits in-thread for the throughput limit before it reschedules itself.
MAX_WAIT = 2.0


def queue_message(
    rt: Runtime,
    *,
    channel_connection_id: int,
    recipient: str,
    message: model.Outbound,
    kind: str,
    idempotency_key: str,
    contact_id: int | None = None,
    session: Session | None = None,
) -> int | None:
    """Add a message to the outbox and enqueue its send. ``None`` if that idempotency key was queued before."""

    def add(s: Session) -> int | None:
        existing = s.scalar(select(OutboundMessage.id).where(OutboundMessage.idempotency_key == idempotency_key))
        if existing is not None:
            return None
        row = OutboundMessage(
            channel_connection_id=channel_connection_id,
            contact_id=contact_id,
            recipient=recipient,
            kind=kind,
            payload=to_json(message),
            idempotency_key=idempotency_key,
            status="pending",
        )
        s.add(row)
        s.flush()
        record_event(s, row.id, "pending", f"{kind} queued")
        args = {"message_id": row.id, "channel_connection_id": channel_connection_id, "recipient": recipient}
        rt.queue.enqueue("message.send", args, session=s, priority=30)
        return row.id

    if session is not None:
        return add(session)
    with rt.db.session() as own:
        message_id = add(own)
    rt.queue._notify()
    return message_id


# --------------------------------------------------------------------------- per-runtime send state


@dataclass
class _Sender:
    """Rate limiters and the text renderer of one runtime (built on first use)."""

    throughput: RateLimiter
    pair: RateLimiter
    renderer: Renderer


_senders: weakref.WeakKeyDictionary[Any, _Sender] = weakref.WeakKeyDictionary()


def sender_state(rt: Runtime) -> _Sender:
    """The limiters and renderer of ``rt``."""
    state = _senders.get(rt)
    if state is None:
        cfg = rt.config.notify
        storage: Storage = DatabaseStorage(rt.db) if cfg.rate_limit_storage == "database" else MemoryStorage()
        state = _Sender(
            throughput=RateLimiter(storage, rate=cfg.messages_per_second, prefix="mps:"),
            pair=RateLimiter.sliding(storage, limit=cfg.pair_limit, window=cfg.pair_window_seconds, prefix="pair:"),
            renderer=Renderer.for_runtime(rt),
        )
        _senders[rt] = state
    return state


def _set(rt: Runtime, message_id: int, status: str, detail: str | None = None, **values: object) -> None:
    with rt.db.session() as session:
        session.execute(update(OutboundMessage).where(OutboundMessage.id == message_id).values(status=status, **values))
        record_event(session, message_id, status, detail)


def _defer(rt: Runtime, message_id: int, seconds: float, why: str, *, states: tuple[str, ...]) -> Retry | None:
    """Mark the row ``deferred`` (only from ``states``) and return the :class:`Retry` that runs the task again."""
    until = datetime.now(UTC) + timedelta(seconds=seconds)
    with rt.db.session() as session:
        changed = session.execute(
            update(OutboundMessage)
            .where(OutboundMessage.id == message_id, OutboundMessage.status.in_(states))
            .values(status="deferred", deferred_until=until, reason=why)
        ).rowcount
        if not changed:
            return None
        record_event(session, message_id, "deferred", f"until {until.isoformat()}: {why}")
    return Retry(seconds, why)


# --------------------------------------------------------------------------- interrupted sends


def _stream_passed(session: Session, row: OutboundMessage) -> bool:
    """True when a status webhook arrived for a message this channel sent *after* ``row``: the channel reports
    in order, so had it accepted ``row``, its status would have come first."""
    from connector.chat.inbound import STATUS_WEBHOOK
    from connector.db.models_notify import OutboxEvent

    later = (
        select(OutboxEvent.id)
        .join(OutboundMessage, OutboundMessage.id == OutboxEvent.message_id)
        .where(
            OutboundMessage.channel_connection_id == row.channel_connection_id,
            OutboundMessage.sent_at > row.sent_at + timedelta(seconds=1),
            OutboxEvent.detail.like(f"{STATUS_WEBHOOK}%"),
        )
        .limit(1)
    )
    return session.scalar(later) is not None


def _webhooks_pending(session: Session, channel_id: int) -> bool:
    return bool(
        session.scalar(
            select(func.count(WebhookEvent.id)).where(
                WebhookEvent.connection_kind == "channel",
                WebhookEvent.connection_id == channel_id,
                WebhookEvent.status == "received",
            )
        )
    )


def _settle_interrupted(rt: Runtime, message_id: int) -> bool:
    """A row left ``sending``/``unknown`` by a dead process. True when it may be sent again now; raises
    :class:`Retry` while its outcome may still arrive; False when it was settled meanwhile."""
    grace = rt.config.notify.unknown_grace_seconds
    now = datetime.now(UTC)
    wait = 0.0
    with rt.db.session() as session:
        row = session.get(OutboundMessage, message_id)
        if row is None or row.status not in ("sending", "unknown") or row.channel_message_id is not None:
            return False
        if row.status == "sending":
            error = "interrupted while sending; waiting for the channel's status webhook"
            # ``updated_at`` starts the grace period from here.
            session.execute(
                update(OutboundMessage)
                .where(OutboundMessage.id == message_id, OutboundMessage.status == "sending")
                .values(status="unknown", error=error)
            )
            record_event(session, message_id, "unknown", error)
            wait = grace
        else:
            waited = (now - row.updated_at).total_seconds()
            # Without a later message's status to go by, wait ten grace periods before deciding it never left.
            passed = row.sent_at is not None and _stream_passed(session, row)
            if waited < grace or _webhooks_pending(session, row.channel_connection_id):
                wait = max(1.0, grace - waited)
            elif not passed and waited < 10 * grace:
                wait = max(1.0, grace)
            else:
                session.execute(
                    update(OutboundMessage)
                    .where(OutboundMessage.id == message_id, OutboundMessage.status == "unknown")
                    .values(status="pending", error=None)
                )
                record_event(
                    session, message_id, "pending", f"no status webhook within {grace:g}s: the channel never took it"
                )
    if wait > 0:  # committed above; the task runs again when the status webhooks had their chance
        raise Retry(max(1.0, wait), "outcome unknown: waiting for status webhooks")
    return True


# --------------------------------------------------------------------------- the send task


def _prepare(rt: Runtime, message_id: int, state: _Sender) -> tuple[OutboundMessage, model.Outbound] | str | None:
    """Check and claim the row for sending in one transaction: the decision and ``sending`` commit together.

    Returns the row and the message to send, ``None`` when there is nothing to send, or ``"interrupted"`` for a
    row a dead process left ``sending``/``unknown``."""
    now = datetime.now(UTC)
    settings = rt.config.notify
    with rt.db.session() as session:
        row = session.get(OutboundMessage, message_id)
        if row is not None and row.status in ("sending", "unknown") and row.channel_message_id is None:
            return "interrupted"
        if row is None or row.status not in ("pending", "deferred"):
            return None
        values: dict[str, Any] = {"status": "sending", "attempts": OutboundMessage.attempts + 1, "sent_at": now}
        if row.notification is not None:
            contact = session.get(Contact, row.contact_id) if row.contact_id else None
            connection = session.get(ChannelConnection, row.channel_connection_id)
            channel = connection.channel if connection is not None else ""
            decision = policy.decide(session, settings, state.renderer, row, contact, channel, now)
            if decision.action == "skip":
                row.status, row.reason = "skipped", decision.reason
                record_event(session, message_id, "skipped", decision.reason)
                return None
            if decision.action == "defer":
                assert decision.until is not None
                row.status, row.reason, row.deferred_until = "deferred", decision.reason, decision.until
                record_event(session, message_id, "deferred", f"until {decision.until.isoformat()}: {decision.reason}")
                delay = max(1.0, (decision.until - now).total_seconds())
                rt.queue.enqueue(
                    "message.send",
                    {"message_id": message_id},
                    session=session,
                    delay=delay,
                    priority=40,
                    idempotency_key=f"deferred:{message_id}:{decision.until.isoformat()}",
                )
                return None
            assert decision.message is not None
            message = decision.message
            values.update(
                payload=to_json(message),
                category=decision.category,
                country=decision.country,
                cost=decision.cost,
                currency=settings.rate_card_currency,
                outside_window=decision.outside_window,
                reason=None,
                deferred_until=None,
            )
        else:
            message = from_json(row.payload)
        session.execute(update(OutboundMessage).where(OutboundMessage.id == message_id).values(**values))
        record_event(session, message_id, "sending")
        return row, message


def _send_task(
    ctx: TaskContext, message_id: int, channel_connection_id: int | None = None, recipient: str | None = None
) -> None:
    rt = ctx.runtime
    state = sender_state(rt)
    if channel_connection_id is None or recipient is None:
        with rt.db.session() as session:
            found = session.get(OutboundMessage, message_id)
            if found is None:
                return
            channel_connection_id, recipient = found.channel_connection_id, found.recipient
    wait = state.throughput.acquire(str(channel_connection_id), timeout=MAX_WAIT)
    if wait > 0:
        raise Retry(wait, "throughput limit of the phone number")
    wait = state.pair.try_acquire(f"{channel_connection_id}:{recipient}")
    if wait > 0:
        retry = _defer(rt, message_id, wait, "pacing messages to this recipient", states=("pending", "deferred"))
        if retry is not None:
            raise retry
        return
    prepared = _prepare(rt, message_id, state)
    if prepared == "interrupted":
        prepared = _prepare(rt, message_id, state) if _settle_interrupted(rt, message_id) else None
    if prepared is None or prepared == "interrupted":
        return
    row, message = prepared  # type: ignore[misc]
    adapter = rt.connections.channel_adapter(row.channel_connection_id)
    to = model.Contact(channel=adapter.name, channel_user_id=row.recipient, phone=row.recipient)
    try:
        result = adapter.send(to, message)
    except MessageLimitError as exc:
        _set(rt, message_id, "failed", str(exc), error=f"message breaks a channel limit: {exc}")
        return
    except SendError as exc:
        _refused(rt, row, exc, state)
        return
    except Exception as exc:
        # The request may or may not have reached the channel: do not resend blindly.
        _set(rt, message_id, "unknown", f"{type(exc).__name__}: {exc}", error=f"{type(exc).__name__}: {exc}")
        raise
    _sent(rt, row, result)


def _sent(rt: Runtime, row: OutboundMessage, result: model.SendResult) -> None:
    with rt.db.session() as session:
        # A status webhook may have settled the row already (matched by recipient): never move it backwards.
        changed = session.execute(
            update(OutboundMessage)
            .where(OutboundMessage.id == row.id, OutboundMessage.status.in_(("sending", "unknown")))
            .values(status="sent", channel_message_id=result.message_id, error=None)
        ).rowcount
        if changed:
            record_event(session, row.id, "sent", result.message_id)
        else:
            session.execute(
                update(OutboundMessage)
                .where(OutboundMessage.id == row.id, OutboundMessage.channel_message_id.is_(None))
                .values(channel_message_id=result.message_id)
            )
    rt.plugins.notification_sent(rt, row.channel_connection_id, row.id, result.message_id, row.kind)


def _refused(rt: Runtime, row: OutboundMessage, exc: SendError, state: _Sender) -> None:
    """The channel refused the message: retry later, switch to a template, or give up, as ``exc.action`` says."""
    attempts = (row.attempts or 0) + 1
    code = exc.code
    if exc.action is SendAction.USE_TEMPLATE and row.notification is not None:
        # Our clock said the window was open; the channel disagrees. Try again as a template (or skip).
        with rt.db.session() as session:
            spec = dict(row.notification)
            spec["force_template"] = True
            session.execute(
                update(OutboundMessage)
                .where(OutboundMessage.id == row.id)
                .values(status="pending", notification=spec, error=str(exc))
            )
            record_event(session, row.id, "pending", "window closed (131047): retrying as a template")
        raise Retry(0.1, "window closed: retry as a template")
    if exc.action in (SendAction.RETRY_LATER, SendAction.RETRY) and attempts < rt.config.notify.max_send_attempts:
        delay = exc.retry_after or backoff_seconds(attempts, base=2, cap=300)
        why = f"channel asked to retry later: {exc}"
        if code == 130429:
            state.throughput.block(str(row.channel_connection_id), delay)
            why = "throughput limit hit (130429): backing off"
        elif code == 131056:
            state.pair.block(f"{row.channel_connection_id}:{row.recipient}", delay)
            why = "pair rate limit hit (131056): pacing this recipient"
        retry = _defer(rt, row.id, delay, why, states=("sending",))
        if retry is not None:
            raise retry
        return
    _set(rt, row.id, "failed", f"{exc.action.value}: {exc}", error=f"{exc.action.value}: {exc}")


def register(tasks: TaskRegistry) -> None:
    """Register the ``message.send`` task handler."""
    tasks.register("message.send", _send_task)


def send_test_message(
    rt: Runtime,
    channel_connection_id: int,
    to: str,
    *,
    text: str | None = None,
    template: str | None = None,
    language: str = "en_US",
) -> int:
    """Queue a test message to ``to`` (a phone number in international format, digits only or with ``+``).

    WhatsApp only lets a business start a conversation with an approved template: use ``template`` to
    reach a phone that has not written in the last 24 hours (``hello_world`` exists in every new account).
    """
    recipient = to.lstrip("+").replace(" ", "")
    if not recipient.isdigit():
        raise ValueError(f"not a phone number in international format: {to!r}")
    message: model.Outbound = (
        model.TemplateMessage(name=template, language=language)
        if template
        else model.TextMessage(body=text or "Hello from Chatshop Connector!")
    )
    message_id = queue_message(
        rt,
        channel_connection_id=channel_connection_id,
        recipient=recipient,
        message=message,
        kind="test",
        idempotency_key=f"test:{uuid.uuid4()}",
    )
    assert message_id is not None  # a fresh key is never a duplicate
    return message_id
