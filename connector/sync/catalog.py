"""The catalog sync engine: shop -> ``shop_variants`` -> channel catalogs, exact, incremental and resumable.

A run has three stages, each committed in small steps so a run killed at any point resumes on the
next one without pushing finished batches again or losing changes:

1. **Read** the shop (everything, what changed since the last cursor, or named variants after a
   webhook) into ``shop_variants``, one content hash per variant. Variants gone from the shop, or
   unpublished, become ``listed = false``. Stock changes fire ``connector_stock_changed``.
2. **Push** to each catalog target what differs from what it last received: the database join
   ``shop_variants`` x ``catalog_items`` finds the rows whose hash moved, so an unchanged catalog
   costs no write call. Sold-out variants are pushed as ``out of stock``, never dropped; unlisted
   ones are deleted. Each batch's outcome is committed before the next is sent.
3. **Check** the batch handles and record per-item errors the catalog reports.

Two syncs of one shop never overlap: a run holds a lease on the shop connection row.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, insert, or_, select, true, update

from connector import model
from connector.adapters import CatalogPush
from connector.db import dml
from connector.db.models import CatalogItem, ShopConnection, ShopVariant, SyncRun
from connector.serialization import from_json, json_hash, to_json
from connector.sync.readahead import read_ahead
from connector.sync.targeted import enqueue_targeted_sync
from connector.work.queue import Retry

if TYPE_CHECKING:
    from connector.connections import CatalogTarget
    from connector.runtime import Runtime
    from connector.work.registry import TaskContext, TaskRegistry

log = logging.getLogger(__name__)

READ_CHUNK = 500
#: How far back an incremental read reaches before the cursor, against clock skew between us and the shop.
CURSOR_OVERLAP = timedelta(minutes=2)
#: A run renews its lease after every chunk it reads and every batch it pushes; a lease not renewed for this long
#: belongs to a run that died on another machine.
LEASE = timedelta(minutes=2)
#: How long a run waits for the catalog to finish processing its batches before leaving them for later.
BATCH_WAIT_SECONDS = 60.0

Progress = Callable[[str, int], None]
_AVAILABLE = frozenset(
    {model.Availability.IN_STOCK, model.Availability.PREORDER, model.Availability.AVAILABLE_FOR_ORDER}
)


@dataclass(slots=True)
class SyncSummary:
    """What one sync run did. Passed to ``connector_catalog_changed`` and shown by ``connector sync``."""

    run_id: int
    shop_connection_id: int
    mode: str
    trigger: str
    status: str = "running"
    read: int = 0
    created: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    failed: int = 0
    write_calls: int = 0
    duration_seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def changed(self) -> int:
        return self.created + self.updated + self.deleted


class SyncBusy(Exception):
    """Another sync of the same shop is running."""


def _owner_is_dead(owner: str) -> bool:
    """True when a lease owner (``host:pid:object``) is a process on this machine that no longer exists."""
    host, _, rest = owner.partition(":")
    pid_text = rest.split(":", 1)[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


class CatalogSync:
    """One sync run of one shop connection. Use :func:`run_sync`."""

    def __init__(self, runtime: Runtime, shop_connection_id: int, *, progress: Progress | None = None):
        self.runtime = runtime
        self.db = runtime.db
        self.shop_id = shop_connection_id
        self.progress = progress or (lambda stage, count: None)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{id(self)}"
        self.stock_changes: list[tuple[str, int | None, int | None]] = []
        self._heartbeat: Callable[[], None] = lambda: None

    # ------------------------------------------------------------------ lease

    def _acquire(self) -> None:
        now = datetime.now(UTC)
        with self.db.session() as session:
            lease_free = or_(ShopConnection.sync_lease_until.is_(None), ShopConnection.sync_lease_until < now)
            owner = session.scalar(select(ShopConnection.sync_lease_owner).where(ShopConnection.id == self.shop_id))
            if owner and _owner_is_dead(owner):
                lease_free = or_(lease_free, ShopConnection.sync_lease_owner == owner)  # killed on this machine
            result = dml(
                session,
                update(ShopConnection)
                .where(ShopConnection.id == self.shop_id, lease_free)
                .values(sync_lease_until=now + LEASE, sync_lease_owner=self.owner),
            )
            if result.rowcount != 1:
                raise SyncBusy(f"a sync of shop connection {self.shop_id} is already running ({owner})")
            # A run still marked running with no lease left was killed: say so instead of leaving it "running".
            session.execute(
                update(SyncRun)
                .where(SyncRun.shop_connection_id == self.shop_id, SyncRun.status == "running")
                .values(status="interrupted", finished_at=now)
            )

    def _renew(self) -> None:
        with self.db.session() as session:
            session.execute(
                update(ShopConnection)
                .where(ShopConnection.id == self.shop_id, ShopConnection.sync_lease_owner == self.owner)
                .values(sync_lease_until=datetime.now(UTC) + LEASE)
            )
        self._heartbeat()

    def _release(self) -> None:
        with self.db.session() as session:
            session.execute(
                update(ShopConnection)
                .where(ShopConnection.id == self.shop_id, ShopConnection.sync_lease_owner == self.owner)
                .values(sync_lease_until=None, sync_lease_owner=None)
            )

    # ------------------------------------------------------------------ run

    def run(
        self,
        mode: str = "delta",
        trigger: str = "manual",
        variant_ids: list[str] | None = None,
        heartbeat: Callable[[], None] | None = None,
    ) -> SyncSummary:
        if mode not in ("full", "delta", "items"):
            raise ValueError(f"unknown sync mode {mode!r}")
        self._heartbeat = heartbeat or self._heartbeat
        self._acquire()
        started = time.monotonic()
        started_at = datetime.now(UTC)
        with self.db.session() as session:
            run = SyncRun(shop_connection_id=self.shop_id, mode=mode, trigger=trigger, heartbeat_at=datetime.now(UTC))
            session.add(run)
            session.flush()
            summary = SyncSummary(run.id, self.shop_id, mode, trigger)
        changed_targets: list[int] = []
        try:
            adapter = self.runtime.connections.shop_adapter(self.shop_id)
            if mode == "items":
                self._read_items(adapter, variant_ids or [], summary)
            else:
                self._read_all(adapter, summary, full=mode == "full")
            since = self._pushed_through() if mode != "full" else None
            for target in self.runtime.connections.catalog_targets(self.shop_id):
                before = summary.changed
                channel_since = since if since is not None and self._target_older_than(target, since) else None
                handles = self._push(target, summary, channel_since)
                self._check_batches(target, handles, summary)
                if summary.changed > before:
                    changed_targets.append(target.channel_connection_id)
            summary.status = "succeeded" if not summary.failed else "succeeded_with_errors"
            self._advance_pushed_through(started_at)
        except Exception as exc:
            summary.status = "failed"
            summary.errors.append(f"{type(exc).__name__}: {exc}")
            raise
        finally:
            summary.duration_seconds = round(time.monotonic() - started, 3)
            self._finish(summary)
            self._release()
        for variant_id, old, new in self.stock_changes:
            self.runtime.plugins.stock_changed(self.runtime, self.shop_id, variant_id, old, new)
        for channel_id in changed_targets:
            self.runtime.plugins.catalog_changed(self.runtime, self.shop_id, channel_id, summary)
        return summary

    def _finish(self, summary: SyncSummary) -> None:
        with self.db.session() as session:
            session.execute(
                update(SyncRun)
                .where(SyncRun.id == summary.run_id)
                .values(
                    status="failed" if summary.status == "failed" else "succeeded",
                    finished_at=datetime.now(UTC),
                    read=summary.read,
                    created=summary.created,
                    updated=summary.updated,
                    deleted=summary.deleted,
                    unchanged=summary.unchanged,
                    failed=summary.failed,
                    write_calls=summary.write_calls,
                    errors=summary.errors[:50],
                )
            )

    # ------------------------------------------------------------------ push watermark

    def _pushed_through(self) -> datetime | None:
        with self.db.session() as session:
            return session.scalar(select(ShopConnection.pushed_through).where(ShopConnection.id == self.shop_id))

    def _target_older_than(self, target: CatalogTarget, moment: datetime) -> bool:
        """A channel connected after ``moment`` has never received the older variants: it needs a full look."""
        from connector.db.models import ChannelConnection

        with self.db.session() as session:
            created = session.scalar(
                select(ChannelConnection.created_at).where(ChannelConnection.id == target.channel_connection_id)
            )
        return created is not None and created < moment

    def _advance_pushed_through(self, started_at: datetime) -> None:
        # Everything stored before this run started has now been pushed (or settled) everywhere.
        with self.db.session() as session:
            session.execute(
                update(ShopConnection)
                .where(
                    ShopConnection.id == self.shop_id,
                    or_(ShopConnection.pushed_through.is_(None), ShopConnection.pushed_through < started_at),
                )
                .values(pushed_through=started_at)
            )

    # ------------------------------------------------------------------ stage 1: read

    def _read_all(self, adapter: Any, summary: SyncSummary, *, full: bool) -> None:
        with self.db.session() as session:
            cursor = session.get_one(ShopConnection, self.shop_id).delta_cursor
        if cursor is None:
            full = True  # the first sync of a shop reads everything
        started = datetime.now(UTC)
        since = None if full or cursor is None else cursor - CURSOR_OVERLAP
        # The shop is read on a thread of its own, up to two chunks ahead of the one being stored.
        shop = iter(adapter.iter_variants(updated_since=since))
        with closing(read_ahead(shop, 2 * READ_CHUNK, name="catalog-read")) as variants:
            for chunk in _chunks(variants, READ_CHUNK):
                self._store(chunk, summary, seen_run=summary.run_id if full else None)
                self.progress("read", len(chunk))
                self._renew()
        with self.db.session() as session:
            if full:
                # What a complete read did not see is gone from the shop. Only after a complete read.
                session.execute(
                    update(ShopVariant)
                    .where(
                        ShopVariant.shop_connection_id == self.shop_id,
                        ShopVariant.listed.is_(True),
                        or_(ShopVariant.seen_run_id.is_(None), ShopVariant.seen_run_id != summary.run_id),
                    )
                    .values(listed=False, updated_at=started)
                )
            session.execute(
                update(ShopConnection).where(ShopConnection.id == self.shop_id).values(delta_cursor=started)
            )

    def _read_items(self, adapter: Any, ids: list[str], summary: SyncSummary) -> None:
        variants = adapter.get_variants(ids) if ids else []
        returned = {v.external_id for v in variants}
        self._store(variants, summary, seen_run=None)
        self.progress("read", len(variants))
        requested = set(ids)
        with self.db.session() as session:
            # A requested product or variant the shop no longer returns was deleted (or its variant removed).
            session.execute(
                update(ShopVariant)
                .where(
                    ShopVariant.shop_connection_id == self.shop_id,
                    ShopVariant.listed.is_(True),
                    or_(ShopVariant.external_id.in_(requested), ShopVariant.product_external_id.in_(requested)),
                    ShopVariant.external_id.not_in(returned) if returned else true(),
                )
                .values(listed=False, updated_at=datetime.now(UTC))
            )

    def _store(self, variants: list[model.Variant], summary: SyncSummary, *, seen_run: int | None) -> None:
        if not variants:
            return
        summary.read += len(variants)
        now = datetime.now(UTC)
        by_id = {v.external_id: v for v in variants}
        with self.db.session() as session:
            existing = {
                row.external_id: row
                for row in session.execute(
                    select(
                        ShopVariant.id,
                        ShopVariant.external_id,
                        ShopVariant.content_hash,
                        ShopVariant.stock_quantity,
                        ShopVariant.listed,
                    ).where(ShopVariant.shop_connection_id == self.shop_id, ShopVariant.external_id.in_(by_id))
                )
            }
            inserts: list[dict[str, Any]] = []
            updates: list[dict[str, Any]] = []
            for external_id, variant in by_id.items():
                variant.updated_at = None  # the shop's clock is not content: it must not change the hash
                data = to_json(variant)
                digest = json_hash(data)
                values = {
                    "product_external_id": variant.product_external_id,
                    "sku": variant.sku,
                    "title": variant.title[:500],
                    "data": data,
                    "content_hash": digest,
                    "stock_quantity": variant.stock_quantity,
                    "available": variant.availability in _AVAILABLE,
                    "listed": variant.published,
                    "updated_at": now,
                }
                row = existing.get(external_id)
                if row is None:
                    inserts.append(
                        {
                            "shop_connection_id": self.shop_id,
                            "external_id": external_id,
                            "seen_run_id": seen_run,
                            **values,
                        }
                    )
                    continue
                if row.stock_quantity != variant.stock_quantity:
                    self.stock_changes.append((external_id, row.stock_quantity, variant.stock_quantity))
                if row.content_hash != digest or row.listed != variant.published:
                    updates.append({"id": row.id, **values})
            # Bulk statements: one INSERT and one executemany UPDATE per chunk, not an ORM object per variant.
            if inserts:
                session.execute(insert(ShopVariant), inserts)
            if updates:
                session.execute(update(ShopVariant), updates)
            if seen_run is not None and existing:
                session.execute(
                    update(ShopVariant)
                    .where(ShopVariant.id.in_([row.id for row in existing.values()]))
                    .values(seen_run_id=seen_run)
                    .execution_options(synchronize_session=False)
                )

    # ------------------------------------------------------------------ stage 2: push

    def _candidates(self, channel_id: int, after_id: int, limit: int, since: datetime | None) -> list[Any]:
        """Variants whose catalog item must change, in id order after ``after_id``; with ``since``, only among
        the variants stored since then (an incremental sync need not compare the whole catalog)."""
        item = CatalogItem
        needs_upsert = and_(
            ShopVariant.listed.is_(True),
            or_(
                item.id.is_(None),
                item.source_hash.is_(None),
                item.source_hash != ShopVariant.content_hash,
                item.status == "deleted",
            ),
        )
        needs_delete = and_(ShopVariant.listed.is_(False), item.id.is_not(None), item.status != "deleted")
        query = (
            select(
                ShopVariant.id,
                ShopVariant.external_id,
                ShopVariant.data,
                ShopVariant.content_hash,
                ShopVariant.listed,
                item.id,
                item.status,
                item.pushed_fields,
            )
            .outerjoin(item, and_(item.shop_variant_id == ShopVariant.id, item.channel_connection_id == channel_id))
            .where(
                ShopVariant.shop_connection_id == self.shop_id,
                ShopVariant.id > after_id,
                or_(needs_upsert, needs_delete),
            )
            .order_by(ShopVariant.id)
            .limit(limit)
        )
        with self.db.session() as session:
            return list(session.execute(query).all())

    def _push(self, target: CatalogTarget, summary: SyncSummary, since: datetime | None = None) -> list[str]:
        publisher = target.publisher
        batch_size = max(1, min(self.runtime.config.sync.batch_size, publisher.max_batch_size))
        handles: list[str] = []
        pending: list[tuple[Any, CatalogPush]] = []
        after_id = 0

        def flush() -> None:
            if pending:
                handle = self._send(target, pending, summary)
                if handle:
                    handles.append(handle)
                pending.clear()
                self._renew()

        # A second of slack: timestamps written by the previous run may share its start second.
        floor = since - timedelta(seconds=1) if since is not None else None
        while rows := self._candidates(target.channel_connection_id, after_id, batch_size, floor):
            after_id = rows[-1][0]
            quiet: list[tuple[Any, str, list[str]]] = []  # rows settled without a push: (row, status, errors)
            for row in rows:
                _sv_id, external_id, data, _digest, listed, item_id, status, pushed = row
                if not listed:
                    pending.append((row, CatalogPush(external_id, "DELETE")))
                else:
                    variant = from_json(data)
                    fields = publisher.item_fields(variant)
                    problems = publisher.validate_item(fields)
                    if problems:
                        quiet.append((row, "invalid", problems))
                    elif item_id is not None and status in ("synced", "pending") and _without_cleared(pushed) == fields:
                        quiet.append((row, status, []))  # e.g. a shop field the catalog does not show changed
                    else:
                        # UPDATE is a partial update: a field we stopped sending (a sale that ended) must be
                        # cleared explicitly, or the catalog keeps the old value.
                        send = dict(fields)
                        for key in (pushed or {}).keys() - fields.keys():
                            send[key] = ""
                        pending.append((row, CatalogPush(external_id, "UPDATE", send)))
                if len(pending) >= batch_size:
                    flush()
            self._settle(target.channel_connection_id, quiet, summary)
            flush()
        return handles

    def _settle(self, channel_id: int, rows: list[tuple[Any, str, list[str]]], summary: SyncSummary) -> None:
        if not rows:
            return
        now = datetime.now(UTC)
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        for row, status, errors in rows:
            sv_id, external_id, _data, digest, _listed, item_id, _status, _pushed = row
            if status == "invalid":
                summary.failed += 1
            else:
                summary.unchanged += 1
            values = {"source_hash": digest, "status": status, "errors": errors, "updated_at": now}
            if item_id is None:
                inserts.append(
                    {
                        "channel_connection_id": channel_id,
                        "shop_variant_id": sv_id,
                        "retailer_id": external_id,
                        **values,
                    }
                )
            else:
                updates.append({"id": item_id, **values})
        self._write_items(inserts, updates)

    def _write_items(self, inserts: list[dict[str, Any]], updates: list[dict[str, Any]]) -> None:
        with self.db.session() as session:
            if inserts:
                session.execute(insert(CatalogItem), inserts)
            if updates:
                session.execute(update(CatalogItem), updates)

    def _send(self, target: CatalogTarget, batch: list[tuple[Any, CatalogPush]], summary: SyncSummary) -> str | None:
        result = target.publisher.push([push for _row, push in batch])
        summary.write_calls += 1
        now = datetime.now(UTC)
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        for row, push in batch:
            sv_id, external_id, _data, digest, _listed, item_id, _status, _pushed = row
            errors = result.item_errors.get(external_id, [])
            if push.method == "DELETE":
                values: dict[str, Any] = {"status": "deleted", "errors": errors, "pushed_fields": None}
                summary.deleted += 1
            else:
                values = {
                    "status": "error" if errors else "pending",
                    "errors": errors,
                    "pushed_fields": dict(push.fields),
                }
                if errors:
                    summary.failed += 1
                elif item_id is None:
                    summary.created += 1
                else:
                    summary.updated += 1
            values.update(source_hash=digest, batch_handle=result.handle, pushed_at=now, updated_at=now)
            if item_id is None:
                inserts.append(
                    {
                        "channel_connection_id": target.channel_connection_id,
                        "shop_variant_id": sv_id,
                        "retailer_id": external_id,
                        **values,
                    }
                )
            else:
                updates.append({"id": item_id, **values})
        self._write_items(inserts, updates)
        self.progress("push", len(batch))
        return result.handle

    # ------------------------------------------------------------------ stage 3: check

    def _check_batches(self, target: CatalogTarget, handles: list[str], summary: SyncSummary) -> None:
        deadline = time.monotonic() + BATCH_WAIT_SECONDS
        delay = 0.2
        waiting = list(handles)
        while waiting and time.monotonic() < deadline:
            for handle in list(waiting):
                status = target.publisher.batch_status(handle)
                if not status.finished:
                    continue
                waiting.remove(handle)
                apply_batch_status(self.runtime, target.channel_connection_id, handle, status.item_errors, summary)
            if waiting:
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
        if waiting:
            # Leave them pending; the next run (or the poll task) records their outcome.
            for handle in waiting:
                self.runtime.queue.enqueue(
                    "catalog.check_batch",
                    {"channel_connection_id": target.channel_connection_id, "handle": handle},
                    delay=30,
                    idempotency_key=f"batch:{target.channel_connection_id}:{handle}",
                )


def _without_cleared(fields: dict[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (fields or {}).items() if v != ""}


def apply_batch_status(
    runtime: Runtime,
    channel_id: int,
    handle: str,
    item_errors: dict[str, list[str]],
    summary: SyncSummary | None = None,
) -> None:
    """Record a finished batch: items with errors become ``error`` (with Meta's reasons), the rest ``synced``."""
    now = datetime.now(UTC)
    with runtime.db.session() as session:
        for retailer_id, errors in item_errors.items():
            changed = dml(
                session,
                update(CatalogItem)
                .where(
                    CatalogItem.channel_connection_id == channel_id,
                    CatalogItem.batch_handle == handle,
                    CatalogItem.retailer_id == retailer_id,
                    CatalogItem.status != "deleted",
                )
                .values(status="error", errors=list(errors), updated_at=now),
            ).rowcount
            if summary is not None and changed:
                summary.failed += changed
                summary.updated = max(0, summary.updated - changed)
        session.execute(
            update(CatalogItem)
            .where(
                CatalogItem.channel_connection_id == channel_id,
                CatalogItem.batch_handle == handle,
                CatalogItem.status == "pending",
            )
            .values(status="synced", updated_at=now)
        )


def run_sync(
    runtime: Runtime,
    shop_connection_id: int,
    *,
    mode: str = "delta",
    trigger: str = "manual",
    variant_ids: list[str] | None = None,
    progress: Progress | None = None,
    heartbeat: Callable[[], None] | None = None,
) -> SyncSummary:
    """Run one sync of a shop now, in this thread. Raises :class:`SyncBusy` if one is already running."""
    return CatalogSync(runtime, shop_connection_id, progress=progress).run(mode, trigger, variant_ids, heartbeat)


# ---------------------------------------------------------------------- tasks


def _sync_task(
    ctx: TaskContext,
    shop_connection_id: int,
    mode: str = "delta",
    trigger: str = "schedule",
    variant_ids: list[str] | None = None,
) -> None:
    try:
        run_sync(
            ctx.runtime,
            shop_connection_id,
            mode=mode,
            trigger=trigger,
            variant_ids=variant_ids,
            heartbeat=ctx.extend_lease,
        )
    except SyncBusy as exc:
        # Not a failure: run after the current sync ends (webhook changes must not be lost). A targeted sync's ids
        # go back into the shop's waiting one (one waiting targeted sync per shop), due in 2 seconds if none waits.
        if mode == "items":
            enqueue_targeted_sync(ctx.runtime, shop_connection_id, variant_ids or [], trigger=trigger, delay=2.0)
            return
        raise Retry(30.0, str(exc)) from None


def _check_batch_task(ctx: TaskContext, channel_connection_id: int, handle: str) -> None:
    publisher = ctx.runtime.connections.channel_adapter(channel_connection_id).catalog()
    if publisher is None:
        return
    status = publisher.batch_status(handle)
    if not status.finished:
        raise Retry(30.0, f"batch {handle} still processing")
    apply_batch_status(ctx.runtime, channel_connection_id, handle, status.item_errors)


def register(tasks: TaskRegistry) -> None:
    tasks.register("catalog.sync", _sync_task)
    tasks.register("catalog.check_batch", _check_batch_task)
