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

"In doubt" means the worker that claimed the send is gone, never that it is slow: a task runs again only after
its previous run ended (it raised) or after its lease ran out, and a lease is renewed by the heartbeat of the
claiming process for as long as that process lives (:mod:`connector.work.heartbeat`). So a row found ``sending``
by a task's next run has no live request behind it, and a send that takes minutes on a loaded machine is simply
waited for.

Fan-outs (a back-in-stock wave) use ``message.send_batch`` instead (:func:`enqueue_batches`): one task for up to
:data:`BATCH_SIZE` rows of one channel connection. It takes the throughput tokens for the whole batch at once,
checks and claims every row in **one** transaction (the same rules, row by row, so budget and reach still see the
rows claimed before them), sends them concurrently, and records every outcome in **one** transaction. Rows it
cannot finish itself (an interrupted send, a deferral, a refusal to retry) get their own ``message.send`` task in
the transaction that changed them, so the single-message rules above settle them.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
import uuid
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Update, bindparam, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from connector import model
from connector.db import dml
from connector.db.models import ChannelConnection, Contact, OutboundMessage, WebhookEvent
from connector.db.models_notify import Consent, OutboxEvent
from connector.errors import MessageLimitError, NotFound, NotSendable, SendAction, SendError
from connector.notify import frequency, policy, pricing, signals
from connector.notify.contacts import contacts_by_id
from connector.notify.outbox import ADD_EVENTS, record_event
from connector.notify.render import Renderer
from connector.ratelimit import DatabaseStorage, MemoryStorage, RateLimiter, Storage
from connector.serialization import from_json, to_json
from connector.work import priorities
from connector.work.queue import Retry, backoff_seconds

if TYPE_CHECKING:
    from connector.runtime import Runtime
    from connector.work.registry import TaskContext, TaskRegistry

log = logging.getLogger(__name__)

#: Longest a send task waits in-thread for the throughput limit before it reschedules itself.
MAX_WAIT = 2.0
#: The batch task's kind, the most rows one batch sends, and how many requests one process has in flight.
BATCH_TASK = "message.send_batch"
BATCH_SIZE = 50
SEND_CONCURRENCY = 16
#: A batch row whose request could not start within this many seconds of its claim (``sent_at``) is not sent
#: but put back: an interrupted send is judged by the status webhooks of messages claimed more than a second
#: after it, which only works while ``sent_at`` is within that margin of the real request.
SEND_WINDOW = 0.5


#: The outbox row's INSERT, adding nothing (and returning no id) for an idempotency key queued before: one plain
#: statement per dialect, built once.
_QUEUE_SQLITE = (
    sqlite.insert(OutboundMessage.__table__)
    .on_conflict_do_nothing(index_elements=["idempotency_key"])
    .returning(OutboundMessage.__table__.c.id)
)
_QUEUE_PG = (
    postgresql.insert(OutboundMessage.__table__)
    .on_conflict_do_nothing(index_elements=["idempotency_key"])
    .returning(OutboundMessage.__table__.c.id)
)


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
        message_id = s.execute(
            _QUEUE_PG if rt.db.is_postgres else _QUEUE_SQLITE,
            {
                "channel_connection_id": channel_connection_id,
                "contact_id": contact_id,
                "recipient": recipient,
                "kind": kind,
                "payload": to_json(message),
                "idempotency_key": idempotency_key,
                "status": "pending",
            },
        ).scalar_one_or_none()
        if message_id is None:
            return None  # that idempotency key was queued before
        record_event(s, message_id, "pending", f"{kind} queued")
        args = {
            "message_id": message_id,
            "channel_connection_id": channel_connection_id,
            "recipient": recipient,
            "fresh": True,  # queued with its row: its first run needs no in-doubt check (see _send_task)
        }
        # A reply (or the answer to a keyword) in a chat: the customer is waiting, so it goes with the chat tier.
        rt.queue.enqueue("message.send", args, session=s, priority=priorities.CHAT)
        return int(message_id)

    if session is not None:
        return add(session)
    with rt.db.session() as own:
        message_id = add(own)
    rt.queue.notify()
    return message_id


def _outbox_update() -> Update:
    """``UPDATE outbound_messages`` without the ORM's matching of loaded objects: the senders read only columns
    that these updates never change (id, recipient, connection, kind), and the matching cost more CPU per
    message than the send."""
    return update(OutboundMessage).execution_options(synchronize_session=False)


# --------------------------------------------------------------------------- per-runtime send state


@dataclass
class _Sender:
    """Rate limiters and the text renderer of one runtime (built on first use)."""

    throughput: RateLimiter
    pair: RateLimiter
    renderer: Renderer
    _pool: ThreadPoolExecutor | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def pool(self) -> ThreadPoolExecutor:
        """The threads batch sends run on (shared by every batch of the process, so requests in flight stay
        within :data:`SEND_CONCURRENCY` and the HTTP connection pool)."""
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(SEND_CONCURRENCY, thread_name_prefix="send")
            return self._pool


_senders: weakref.WeakKeyDictionary[Any, _Sender] = weakref.WeakKeyDictionary()


def sender_state(rt: Runtime) -> _Sender:
    """The limiters and renderer of ``rt``."""
    state = _senders.get(rt)
    if state is None:
        cfg = rt.config.notify
        storage: Storage = DatabaseStorage(rt.db) if cfg.rate_limit_storage == "database" else MemoryStorage()
        state = _Sender(
            # Meta counts a number's messages per second over a sliding second: a bucket holding a whole second's
            # worth sent twice the limit after a pause, and the excess came back as 130429 (a send thread then
            # slept before its retry).
            throughput=RateLimiter.within(storage, limit=cfg.messages_per_second, prefix="mps:"),
            pair=RateLimiter.sliding(storage, limit=cfg.pair_limit, window=cfg.pair_window_seconds, prefix="pair:"),
            renderer=Renderer.for_runtime(rt),
        )
        _senders[rt] = state
    return state


def _set(rt: Runtime, message_id: int, status: str, detail: str | None = None, **values: object) -> None:
    with rt.db.session() as session:
        _set_in(session, message_id, status, detail, **values)


def _defer_in(session: Session, message_id: int, seconds: float, why: str, *, states: tuple[str, ...]) -> Retry | None:
    """Mark the row ``deferred`` (only from ``states``) in ``session``; the :class:`Retry` that runs it again."""
    until = datetime.now(UTC) + timedelta(seconds=seconds)
    changed = dml(
        session,
        _outbox_update()
        .where(OutboundMessage.id == message_id, OutboundMessage.status.in_(states))
        .values(status="deferred", deferred_until=until, reason=why),
    ).rowcount
    if not changed:
        return None
    record_event(session, message_id, "deferred", f"until {until.isoformat()}: {why}")
    return Retry(seconds, why)


def _defer(rt: Runtime, message_id: int, seconds: float, why: str, *, states: tuple[str, ...]) -> Retry | None:
    """Mark the row ``deferred`` (only from ``states``) and return the :class:`Retry` that runs the task again."""
    with rt.db.session() as session:
        return _defer_in(session, message_id, seconds, why, states=states)


# --------------------------------------------------------------------------- interrupted sends


def _stream_passed(session: Session, row: OutboundMessage) -> bool:
    """True when a status webhook arrived for a message this channel sent *after* ``row``: the channel reports
    in order, so had it accepted ``row``, its status would have come first."""
    from connector.chat.inbound import STATUS_WEBHOOK

    if row.sent_at is None:  # never claimed for sending: nothing can have passed it
        return False

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


def _accepted_later(session: Session, row: OutboundMessage) -> bool:
    """True when the channel accepted a message of this connection claimed more than a second after ``row``."""
    if row.sent_at is None:  # never claimed for sending: nothing can have been claimed after it
        return False
    later = (
        select(OutboundMessage.id)
        .where(
            OutboundMessage.channel_connection_id == row.channel_connection_id,
            OutboundMessage.sent_at > row.sent_at + timedelta(seconds=1),
            OutboundMessage.channel_message_id.is_not(None),
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


def _webhooks_since(session: Session, channel_id: int, since: datetime) -> bool:
    """True when the channel delivered a webhook (statuses or messages) since ``since``: its stream is alive."""
    return (
        session.scalar(
            select(WebhookEvent.id)
            .where(
                WebhookEvent.connection_kind == "channel",
                WebhookEvent.connection_id == channel_id,
                WebhookEvent.received_at >= since,
            )
            .limit(1)
        )
        is not None
    )


def _in_doubt(rt: Runtime, message_id: int) -> bool:
    """True for a row left ``sending``/``unknown`` without the channel's message id: it may or may not have left.

    Asked only by a later run of the row's task, which exists only once the run that claimed the row ended or its
    process stopped beating (see the module's docstring): the send that left the row is over, not merely slow."""
    with rt.db.session() as session:
        row = session.get(OutboundMessage, message_id)
        return row is not None and row.status in ("sending", "unknown") and row.channel_message_id is None


def _settle_interrupted(rt: Runtime, message_id: int) -> bool:
    """A row left ``sending``/``unknown`` by a dead process (or a request that failed without an answer). True
    when it may be sent again now; raises :class:`Retry` while its outcome may still arrive; False when it was
    settled meanwhile."""
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
                _outbox_update()
                .where(OutboundMessage.id == message_id, OutboundMessage.status == "sending")
                .values(status="unknown", error=error)
            )
            record_event(session, message_id, "unknown", error)
            wait = grace
        else:
            waited = (now - row.updated_at).total_seconds()
            # Without a later message's status to go by, wait ten grace periods before deciding it never left.
            # While the channel still owes the status of a message it accepted after this one and its webhooks
            # keep coming, its status stream is behind and will pass this row: wait for that, however far behind
            # it is (a fan-out can outpace it by minutes), up to a thousand grace periods (about Meta's week of
            # webhook retries with the default grace). Giving up earlier is what resent messages that had left.
            passed = row.sent_at is not None and _stream_passed(session, row)
            behind = (
                not passed
                and row.sent_at is not None
                and _accepted_later(session, row)
                and _webhooks_since(session, row.channel_connection_id, now - timedelta(seconds=10 * grace))
            )
            if waited < grace or _webhooks_pending(session, row.channel_connection_id):
                wait = max(1.0, grace - waited)
            elif not passed and waited < (1000 if behind else 10) * grace:
                wait = max(1.0, grace)
            else:
                session.execute(
                    _outbox_update()
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


@dataclass
class _BatchWrites:
    """The writes of one batch transaction, made with a few statements instead of a few per message.

    ``consents``: every ``(contact, purpose)`` opt-in of the batch's contacts, read in one query; ``tally``: the
    spend and reach of the batch's decisions, which the database sees only when the batch is written."""

    consents: dict[tuple[int, str], bool] = field(default_factory=dict)
    tally: pricing.Tally = field(default_factory=lambda: pricing.Tally())
    #: The batch's contacts inside a free entry-point window, read in one query.
    entry_points: dict[int, datetime] = field(default_factory=dict)
    claims: dict[tuple[str, ...], list[dict[str, Any]]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)

    def claim(self, message_id: int, values: dict[str, Any]) -> None:
        """Mark the row ``sending`` with ``values`` (``attempts`` is counted up in SQL)."""
        self.claims.setdefault(tuple(sorted(values)), []).append({"b_id": message_id, **_bound(values)})
        self.event(message_id, "sending")

    def event(self, message_id: int, status: str, detail: str | None = None) -> None:
        self.events.append({"message_id": message_id, "status": status, "detail": detail, "at": datetime.now(UTC)})

    def flush(self, session: Session) -> None:
        """Run the collected statements: one ``executemany`` UPDATE per set of columns, one INSERT of events."""
        for columns, params in self.claims.items():
            session.execute(_claim_statement(columns), params)
        if self.events:
            session.execute(ADD_EVENTS, self.events)
        self.claims.clear()
        self.events.clear()


@functools.cache
def _claim_statement(columns: tuple[str, ...]) -> Update:
    """The batch claim's ``executemany`` UPDATE for one set of columns (built once per set, not per batch)."""
    table = OutboundMessage.__table__
    return (
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values(attempts=table.c.attempts + 1, **{c: bindparam(f"b_{c}") for c in columns})
    )


def _bound(values: dict[str, Any]) -> dict[str, Any]:
    return {f"b_{key}": value for key, value in values.items()}


def _claim(
    rt: Runtime,
    session: Session,
    row: OutboundMessage,
    contact: Contact | None,
    channel: str,
    now: datetime,
    state: _Sender,
    writes: _BatchWrites | None = None,
) -> model.Outbound | None:
    """Apply the rules to a ``pending``/``deferred`` row and mark it ``sending``, in ``session``'s transaction.

    Returns the message to send, or ``None`` when the row was skipped or deferred (a deferral enqueues the
    ``message.send`` task that tries again). With ``writes`` (a batch), the ``sending`` update and its event are
    collected there and written with the rest of the batch's."""
    settings = rt.config.notify
    message_id = row.id
    # ``attempts`` is counted up in SQL: by the batch's UPDATE, or by the single statement below.
    values: dict[str, Any] = {"status": "sending", "sent_at": now}
    if row.notification is not None:
        consents, tally = (writes.consents, writes.tally) if writes is not None else (None, None)
        decision = policy.decide(
            session,
            settings,
            state.renderer,
            row,
            contact,
            channel,
            now,
            consents=consents,
            tally=tally,
            entry_points=writes.entry_points if writes is not None else None,
        )
        if decision.action == "skip":
            session.execute(
                _outbox_update()
                .where(OutboundMessage.id == message_id)
                .values(status="skipped", reason=decision.reason)
            )
            record_event(session, message_id, "skipped", decision.reason)
            return None
        if decision.action == "defer":
            assert decision.until is not None
            session.execute(
                _outbox_update()
                .where(OutboundMessage.id == message_id)
                .values(status="deferred", reason=decision.reason, deferred_until=decision.until)
            )
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
        # A chat reply (or a test message): priced and counted toward the budget, never held back by it.
        message = from_json(row.payload)
        adapter = state.renderer.channels.get(channel)
        templates = adapter is None or model.TemplateMessage in adapter.supports
        tally = writes.tally if writes is not None else None
        values.update(policy.price_reply(session, settings, row, message, contact, templates, now, tally))
    if writes is not None:
        writes.claim(message_id, values)
        return message
    session.execute(
        _outbox_update().where(OutboundMessage.id == message_id).values(attempts=OutboundMessage.attempts + 1, **values)
    )
    record_event(session, message_id, "sending")
    return message


def _prepare(rt: Runtime, message_id: int, state: _Sender) -> tuple[OutboundMessage, model.Outbound] | str | None:
    """Check and claim the row for sending in one transaction: the decision and ``sending`` commit together.

    Returns the row and the message to send, ``None`` when there is nothing to send, or ``"interrupted"`` for a
    row a dead process left ``sending``/``unknown``."""
    now = datetime.now(UTC)
    with rt.db.session() as session:
        row = session.get(OutboundMessage, message_id)
        if row is not None and row.status in ("sending", "unknown") and row.channel_message_id is None:
            return "interrupted"
        if row is None or row.status not in ("pending", "deferred"):
            return None
        # Notifications and chat replies alike are priced by the contact's window and the channel.
        contact = session.get(Contact, row.contact_id) if row.contact_id else None
        # The channel's name from the connection row the adapters use (read in this transaction when it is old).
        try:
            channel = rt.connections.ref("channel", row.channel_connection_id, session).adapter
        except NotFound:
            channel = ""
        message = _claim(rt, session, row, contact, channel, now, state)
        if message is None:
            return None
        return row, message


def _send_task(
    ctx: TaskContext,
    message_id: int,
    channel_connection_id: int | None = None,
    recipient: str | None = None,
    fresh: bool = False,
) -> None:
    rt = ctx.runtime
    state = sender_state(rt)
    if channel_connection_id is None or recipient is None:
        with rt.db.session() as session:
            found = session.get(OutboundMessage, message_id)
            if found is None:
                return
            channel_connection_id, recipient = found.channel_connection_id, found.recipient
    # A row a dead process left in doubt is settled first, before it takes any tokens: while it waits for its
    # status webhook this task runs again and again, and each run must not count as a message to the recipient
    # (ten runs would exhaust the recipient's pacing and strand the row). The first run of the task queued with a
    # new row (``fresh``: every chat reply's) cannot find it in doubt, and skips the extra read; should it, _prepare
    # below still refuses to send it.
    if not (fresh and ctx.task.attempts == 1) and _in_doubt(rt, message_id) and not _settle_interrupted(rt, message_id):
        return
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
    if prepared is None or isinstance(prepared, str):
        return  # nothing to send, or "interrupted": in doubt again (another process died with it since): its task comes back
    row, message = prepared
    adapter = rt.connections.channel_adapter(row.channel_connection_id)
    to = model.Contact(channel=adapter.name, channel_user_id=row.recipient, phone=row.recipient)
    try:
        result = adapter.send_tracked(to, message, str(message_id))
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


def _record_sent(session: Session, message_id: int, result: model.SendResult) -> None:
    # A status webhook may have settled the row already (matched by recipient): never move it backwards.
    changed = dml(
        session,
        _outbox_update()
        .where(OutboundMessage.id == message_id, OutboundMessage.status.in_(("sending", "unknown")))
        .values(status="sent", channel_message_id=result.message_id, error=None),
    ).rowcount
    if changed:
        record_event(session, message_id, "sent", result.message_id)
    else:
        session.execute(
            _outbox_update()
            .where(OutboundMessage.id == message_id, OutboundMessage.channel_message_id.is_(None))
            .values(channel_message_id=result.message_id)
        )


_OUTBOX_TABLE = OutboundMessage.__table__
#: The batch's rows no status webhook settled yet; locked until the commit (PostgreSQL; SQLite's transaction holds
#: the only write lock already), so the UPDATE below changes exactly these.
_UNSETTLED = (
    select(_OUTBOX_TABLE.c.id)
    .where(_OUTBOX_TABLE.c.id.in_(bindparam("ids", expanding=True)), _OUTBOX_TABLE.c.status.in_(("sending", "unknown")))
    .with_for_update()
)
#: Built once and run as one ``executemany`` per batch (a CASE over the batch's ids was a new statement each time).
_MARK_SENT = (
    update(_OUTBOX_TABLE)
    .where(
        _OUTBOX_TABLE.c.id == bindparam("b_id"),
        # Not ``in_()``: its expanding parameter can't run in an executemany.
        or_(_OUTBOX_TABLE.c.status == "sending", _OUTBOX_TABLE.c.status == "unknown"),
    )
    .values(status="sent", channel_message_id=bindparam("b_wamid"), error=None)
)
_ADD_WAMID = (
    update(_OUTBOX_TABLE)
    .where(_OUTBOX_TABLE.c.id == bindparam("b_id"), _OUTBOX_TABLE.c.channel_message_id.is_(None))
    .values(channel_message_id=bindparam("b_wamid"))
)


def _record_sent_many(session: Session, results: list[tuple[int, model.SendResult]]) -> None:
    """:func:`_record_sent` for a batch, in four statements whatever its size."""
    if not results:
        return
    wamids = {message_id: result.message_id for message_id, result in results}
    changed: set[int] = set(session.scalars(_UNSETTLED, {"ids": list(wamids)}))
    if changed:
        session.execute(_MARK_SENT, [{"b_id": m, "b_wamid": wamids[m]} for m in wamids if m in changed])
        now = datetime.now(UTC)
        session.execute(
            ADD_EVENTS,
            [{"message_id": m, "status": "sent", "detail": wamids[m], "at": now} for m, _ in results if m in changed],
        )
    settled = [message_id for message_id in wamids if message_id not in changed]
    if settled:  # a status webhook got there first: keep its status, add the id it lacked
        session.execute(_ADD_WAMID, [{"b_id": m, "b_wamid": wamids[m]} for m in settled])


def _sent(rt: Runtime, row: OutboundMessage, result: model.SendResult) -> None:
    """Record the channel's answer, then tell the plugins. In the embedded worker both wait for its next claim,
    whose transaction records it (one transaction fewer per message; should the process die first, the row is in
    doubt until its status webhook names it, as after any send whose answer was not recorded)."""
    message_id, channel_id, kind = row.id, row.channel_connection_id, row.kind

    def record(session: Session) -> None:
        _record_sent(session, message_id, result)

    def tell() -> None:
        rt.plugins.notification_sent(rt, channel_id, message_id, result.message_id, kind)

    rt.queue.after_task(record, tell)


def _set_in(session: Session, message_id: int, status: str, detail: str | None = None, **values: object) -> None:
    session.execute(_outbox_update().where(OutboundMessage.id == message_id).values(status=status, **values))
    record_event(session, message_id, status, detail)


def _refusal(rt: Runtime, session: Session, row: OutboundMessage, exc: SendError, state: _Sender) -> Retry | None:
    """The channel refused the message: retry later, switch to a template, or give up, as ``exc.action`` says.
    Records it in ``session``; returns the :class:`Retry` that sends it again, if any."""
    attempts = (row.attempts or 0) + 1
    code = exc.code
    if exc.action is SendAction.USE_TEMPLATE and row.notification is not None:
        # Our clock said the window was open; the channel disagrees. Try again as a template (or skip).
        spec = dict(row.notification)
        spec["force_template"] = True
        session.execute(
            _outbox_update()
            .where(OutboundMessage.id == row.id)
            .values(status="pending", notification=spec, error=str(exc))
        )
        record_event(session, row.id, "pending", "window closed (131047): retrying as a template")
        return Retry(0.1, "window closed: retry as a template")
    if exc.action is SendAction.CONFIG:
        return _setup_broken(rt, session, row, exc, state)
    if isinstance(exc, NotSendable):
        # Nothing was sent and nothing can be: skipped with the channel's reason, like a rule of the policy.
        _set_in(session, row.id, "skipped", str(exc), reason=str(exc))
        return None
    if exc.action in (SendAction.RETRY_LATER, SendAction.RETRY) and attempts < rt.config.notify.max_send_attempts:
        delay = exc.retry_after or backoff_seconds(attempts, base=2, cap=300)
        why = f"channel asked to retry later: {exc}"
        if code == 130429:
            state.throughput.block(str(row.channel_connection_id), delay)
            why = "throughput limit hit (130429): backing off"
        elif code == 131056:
            state.pair.block(f"{row.channel_connection_id}:{row.recipient}", delay)
            why = "pair rate limit hit (131056): pacing this recipient"
        return _defer_in(session, row.id, delay, why, states=("sending",))
    number = code if isinstance(code, int) and not isinstance(code, bool) else None
    _set_in(
        session, row.id, "failed", f"{exc.action.value}: {exc}", error=f"{exc.action.value}: {exc}", error_code=number
    )
    if number is not None and row.contact_id is not None:
        signals.after_refusal(rt, session, row.id, row.contact_id, number, str(exc))
    return None


def _setup_broken(rt: Runtime, session: Session, row: OutboundMessage, exc: SendError, state: _Sender) -> Retry | None:
    """The channel's setup is broken (token, permission, payment): nothing about this message is wrong, and no
    message of this channel can go out until the owner fixes it. Keep the row and try again every
    ``setup_retry_seconds`` (the channel's other sends wait as long, so one probe a period reaches the channel, not
    a whole fan-out's worth); fail it only ``setup_retry_hours`` after it was queued."""
    settings = rt.config.notify
    queued = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC)
    if datetime.now(UTC) - queued > timedelta(hours=settings.setup_retry_hours):
        error = f"config: {exc}; the channel's setup was not fixed within {settings.setup_retry_hours:g} h"
        _set_in(session, row.id, "failed", error, error=error)
        return None
    delay = settings.setup_retry_seconds
    state.throughput.block(str(row.channel_connection_id), delay)
    log.warning("channel connection %s cannot send until its setup is fixed: %s", row.channel_connection_id, exc)
    why = f"the channel's setup needs the owner (kept, tried again every {delay:g} s): {exc}"
    # Not counted as an attempt: the message did nothing wrong, however long the owner takes.
    session.execute(
        _outbox_update()
        .where(OutboundMessage.id == row.id)
        .values(attempts=OutboundMessage.attempts - 1, error=str(exc))
    )
    return _defer_in(session, row.id, delay, why, states=("sending",))


def _refused(rt: Runtime, row: OutboundMessage, exc: SendError, state: _Sender) -> None:
    with rt.db.session() as session:
        retry = _refusal(rt, session, row, exc, state)
    if retry is not None:
        raise retry


# --------------------------------------------------------------------------- batches (fan-outs)


def enqueue_batches(
    rt: Runtime, session: Session, channel_connection_id: int, messages: list[tuple[int, str]], *, priority: int = 45
) -> int:
    """Enqueue ``message.send_batch`` tasks for outbox rows ``(id, recipient)`` of one channel connection, in
    ``session``'s transaction (so the rows and their sends commit together). Returns how many tasks."""
    tasks = 0
    for start in range(0, len(messages), BATCH_SIZE):
        chunk = [[message_id, recipient] for message_id, recipient in messages[start : start + BATCH_SIZE]]
        args = {"channel_connection_id": channel_connection_id, "messages": chunk}
        rt.queue.enqueue(BATCH_TASK, args, session=session, priority=priority)
        tasks += 1
    return tasks


def _follow_up(rt: Runtime, session: Session, row: OutboundMessage, delay: float) -> None:
    """Hand one row of a batch to its own ``message.send`` task (the single-message rules settle it)."""
    args = {"message_id": row.id, "channel_connection_id": row.channel_connection_id, "recipient": row.recipient}
    rt.queue.enqueue("message.send", args, session=session, delay=max(0.0, delay), priority=40)


def _tokens(limiter: RateLimiter, key: str, wanted: int, timeout: float) -> tuple[int, float]:
    """Take up to ``wanted`` tokens (in pieces no larger than the burst), waiting at most ``timeout``.
    Returns how many were taken and, when not all, the seconds until the next piece."""
    deadline = time.monotonic() + timeout
    taken = 0
    while taken < wanted:
        step = min(wanted - taken, max(1, int(limiter.burst)))
        wait = limiter.acquire(key, timeout=max(0.0, deadline - time.monotonic()), cost=step)
        if wait > 0:
            return taken, wait
        taken += step
    return taken, 0.0


# A batch's rows and contacts are read as plain rows, not ORM objects: building 50 ORM instances was a third of the
# batch's claim, under the write lock. They are read like the ORM objects (every column by name) and nothing writes
# through them: every change is an UPDATE.
_BATCH_ROWS = select(*(column for column in _OUTBOX_TABLE.c if column.key != "payload")).where(
    _OUTBOX_TABLE.c.id.in_(bindparam("ids", expanding=True))
)
_FULL_ROWS = select(_OUTBOX_TABLE).where(_OUTBOX_TABLE.c.id.in_(bindparam("ids", expanding=True)))


def _batch_rows(session: Session, ids: list[int]) -> dict[int, OutboundMessage]:
    """The batch's outbox rows by id. Without the payload, which a notification renders at send time (decrypting
    it would be wasted work under the write lock); a chat reply's row (no notification) is read with it."""
    rows: dict[int, OutboundMessage] = {
        r.id: cast(OutboundMessage, r) for r in session.execute(_BATCH_ROWS, {"ids": ids})
    }
    replies = [row_id for row_id, row in rows.items() if row.notification is None]
    if replies:
        rows.update({r.id: cast(OutboundMessage, r) for r in session.execute(_FULL_ROWS, {"ids": replies})})
    return rows


def _prepare_batch(
    rt: Runtime,
    channel_connection_id: int,
    ids: list[int],
    paced: dict[int, float],
    later: list[list[Any]],
    later_delay: float,
    state: _Sender,
) -> tuple[list[tuple[OutboundMessage, model.Outbound]], float]:
    """One transaction: apply the rules to every row of the batch and mark the ones to send ``sending``.
    Returns them and the ``time.monotonic()`` of their ``sent_at``."""
    grace = rt.config.notify.unknown_grace_seconds
    claimed: list[tuple[OutboundMessage, model.Outbound]] = []
    with rt.db.session() as session, session.no_autoflush:
        connection = session.get(ChannelConnection, channel_connection_id)
        # The write lock is ours from here: ``sent_at`` is the time of the claim, not of the wait for the lock.
        now, at = datetime.now(UTC), time.monotonic()
        channel = connection.channel if connection is not None else ""
        rows = _batch_rows(session, ids)
        contact_ids = {r.contact_id for r in rows.values() if r.contact_id is not None}
        contacts = contacts_by_id(session, contact_ids)
        writes = _BatchWrites()
        if contact_ids:
            found = session.execute(
                select(Consent.contact_id, Consent.purpose, Consent.granted).where(Consent.contact_id.in_(contact_ids))
            )
            writes.consents = {(contact_id, purpose): granted for contact_id, purpose, granted in found}
            hours = rt.config.notify.free_entry_point_hours
            writes.entry_points = pricing.entry_points(session, contact_ids, now, hours)
            marketing = {r.contact_id for r in rows.values() if r.purpose == "marketing" and r.contact_id is not None}
            if marketing:
                # The frequency cap's counts of the batch's marketing recipients, in one query.
                writes.tally.marketing_counts = frequency.counts(session, marketing, now, rt.config.notify)
        for message_id in ids:
            row = rows.get(message_id)
            if row is None:
                continue
            if row.status == "sending" and row.channel_message_id is None:
                # Left by a batch whose process died mid-send (this batch task is running again, so the heartbeat
                # of the process that claimed it stopped): never sent blindly; the single-message task waits for
                # the channel's status webhook (the row's ``unknown`` and its task commit together).
                error = "interrupted while sending; waiting for the channel's status webhook"
                _set_in(session, message_id, "unknown", error, error=error)
                _follow_up(rt, session, row, grace)
                continue
            if row.status != "pending":
                continue  # done, or in the hands of its own message.send task (deferred, unknown)
            if message_id in paced:
                retry = _defer_in(
                    session, message_id, paced[message_id], "pacing messages to this recipient", states=("pending",)
                )
                if retry is not None:
                    _follow_up(rt, session, row, retry.delay)
                continue
            contact = contacts.get(row.contact_id) if row.contact_id is not None else None
            message = _claim(rt, session, row, contact, channel, now, state, writes)
            if message is not None:
                claimed.append((row, message))
        writes.flush(session)
        if later:
            args = {"channel_connection_id": channel_connection_id, "messages": later}
            rt.queue.enqueue(BATCH_TASK, args, session=session, delay=later_delay, priority=45)
    return claimed, at


class _NotSent(Exception):
    """The row's send window passed before a thread was free: it was not sent (certain), and goes back."""


def _send_one(
    adapter: Any, row: OutboundMessage, message: model.Outbound, claimed: float
) -> model.SendResult | Exception:
    if time.monotonic() - claimed > SEND_WINDOW:
        return _NotSent()
    to = model.Contact(channel=adapter.name, channel_user_id=row.recipient, phone=row.recipient)
    try:
        return adapter.send_tracked(to, message, str(row.id))
    except Exception as exc:  # recorded by the caller, row by row
        return exc


def _record_batch(
    rt: Runtime, outcomes: list[tuple[OutboundMessage, model.SendResult | Exception]], state: _Sender
) -> list[tuple[OutboundMessage, model.SendResult]]:
    """One transaction: every outcome of a batch. Returns the rows the channel accepted."""
    grace = rt.config.notify.unknown_grace_seconds
    sent: list[tuple[OutboundMessage, model.SendResult]] = []
    again: list[list[Any]] = []
    with rt.db.session() as session, session.no_autoflush:
        accepted = [(row, outcome) for row, outcome in outcomes if isinstance(outcome, model.SendResult)]
        sent.extend(accepted)
        _record_sent_many(session, [(row.id, result) for row, result in accepted])
        for row, outcome in outcomes:
            if isinstance(outcome, model.SendResult):
                continue  # recorded above
            if isinstance(outcome, _NotSent):
                session.execute(
                    _outbox_update()
                    .where(OutboundMessage.id == row.id, OutboundMessage.status == "sending")
                    .values(status="pending", sent_at=None, attempts=OutboundMessage.attempts - 1)
                )
                record_event(session, row.id, "pending", "not sent within its send window; queued again")
                again.append([row.id, row.recipient])
            elif isinstance(outcome, MessageLimitError):
                _set_in(session, row.id, "failed", str(outcome), error=f"message breaks a channel limit: {outcome}")
            elif isinstance(outcome, SendError):
                retry = _refusal(rt, session, row, outcome, state)
                if retry is not None:
                    _follow_up(rt, session, row, retry.delay)
            else:
                # The request may or may not have reached the channel: do not resend blindly.
                detail = f"{type(outcome).__name__}: {outcome}"
                log.warning("message %s: outcome unknown: %s", row.id, detail)
                _set_in(session, row.id, "unknown", detail, error=detail)
                _follow_up(rt, session, row, grace)
        if again:
            args = {"channel_connection_id": outcomes[0][0].channel_connection_id, "messages": again}
            rt.queue.enqueue(BATCH_TASK, args, session=session, priority=45)
    return sent


def _record_after_task(rt: Runtime, accepted: list[tuple[OutboundMessage, model.SendResult]]) -> None:
    """Record a batch's accepted sends with this thread's next claim; tell the plugins once it committed."""
    results = [(row.id, result) for row, result in accepted]

    def record(session: Session) -> None:
        _record_sent_many(session, results)

    def tell() -> None:
        for row, result in accepted:
            rt.plugins.notification_sent(rt, row.channel_connection_id, row.id, result.message_id, row.kind)

    rt.queue.after_task(record, tell)


def _send_batch_task(ctx: TaskContext, channel_connection_id: int, messages: list[list[Any]]) -> None:
    """Send up to :data:`BATCH_SIZE` outbox rows of one channel connection: tokens, one transaction to check
    and claim, concurrent sends, one transaction for the outcomes."""
    rt = ctx.runtime
    state = sender_state(rt)
    if not messages:
        return
    taken, wait = _tokens(state.throughput, str(channel_connection_id), len(messages), MAX_WAIT)
    if taken == 0:
        raise Retry(wait, "throughput limit of the phone number")
    now_batch, later = messages[:taken], messages[taken:]
    paced: dict[int, float] = {}
    for message_id, recipient in now_batch:
        pause = state.pair.try_acquire(f"{channel_connection_id}:{recipient}")
        if pause > 0:
            paced[int(message_id)] = pause
    ids = [int(m[0]) for m in now_batch]
    adapter = rt.connections.channel_adapter(channel_connection_id)  # before the claim: sends start right after it
    claimed, started = _prepare_batch(rt, channel_connection_id, ids, paced, later, wait, state)
    if later:
        rt.queue.notify()
    if not claimed:
        return
    pool = state.pool()
    futures = [pool.submit(_send_one, adapter, row, message, started) for row, message in claimed]
    outcomes = [(row, future.result()) for (row, _), future in zip(claimed, futures, strict=True)]
    accepted = [(row, outcome) for row, outcome in outcomes if isinstance(outcome, model.SendResult)]
    if len(accepted) == len(outcomes):
        # Every send accepted (the usual batch): the answers are recorded in the transaction of this thread's next
        # claim, which marks this task done, instead of one more write transaction per batch. Should the process
        # die first, the task runs again and finds its rows sending without the channel's id: in doubt, settled by
        # their status webhooks, as after any crash mid-batch.
        _record_after_task(rt, accepted)
        return
    sent = _record_batch(rt, outcomes, state)
    if len(sent) < len(outcomes):
        rt.queue.notify()
    for row, result in sent:
        rt.plugins.notification_sent(rt, row.channel_connection_id, row.id, result.message_id, row.kind)


def register(tasks: TaskRegistry) -> None:
    """Register the ``message.send`` and ``message.send_batch`` task handlers."""
    tasks.register("message.send", _send_task)
    tasks.register(BATCH_TASK, _send_batch_task)


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
