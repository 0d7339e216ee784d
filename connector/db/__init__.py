"""Database access: one :class:`Database` per process, sessions per unit of work.

SQLite (the embedded default) runs in WAL mode with ``synchronous=FULL`` (durable commits; see
``[database] sqlite_synchronous``) and ``BEGIN IMMEDIATE`` for every transaction, so
concurrent writers queue on the lock instead of failing with ``SQLITE_BUSY`` halfway through; the threads of one
process queue for it in Python (:class:`WriterTurns`), not in SQLite's sleeping busy handler. The
rule that follows, everywhere: **never hold a transaction open across network I/O.** Read, commit,
call the platform, then write the result in a new short transaction.

A PostgreSQL URL (``postgresql+psycopg://...``) works unchanged.

Personal data is protected at rest: some columns are encrypted with the keys handed in as ``secrets``
(:mod:`connector.db.encrypted`); an SQLite file (and its ``-wal``/``-shm``) is readable by its owner only (0600) and
runs with ``secure_delete``, so erased data is overwritten instead of lingering in free pages.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Connection, CursorResult, Engine, Executable, Table, create_engine, event, insert
from sqlalchemy.orm import Session, sessionmaker

from connector.db.encrypted import BOX_ATTRIBUTE
from connector.db.models import Base
from connector.secrets import SecretBox

log = logging.getLogger(__name__)

#: An SQLite database holds customers' personal data: only its owner may read it.
FILE_MODE = 0o600


def dml(session: Session, statement: Executable, params: Any = None) -> CursorResult[Any]:
    """``session.execute`` of an INSERT, UPDATE or DELETE, typed as the cursor result it returns at runtime
    (``rowcount``, ``inserted_primary_key``; ``Session.execute`` is typed for any statement)."""
    return cast(CursorResult[Any], session.execute(statement, params))


def insert_id(session: Session, statement: Executable, params: Any = None) -> int:
    """Run a single-row INSERT and return the new row's integer primary key."""
    key = dml(session, statement, params).inserted_primary_key
    assert key is not None, "not a single-row INSERT"
    return int(key[0])


def insert_many_ids(connection: Connection, table: Table, rows: list[dict[str, Any]]) -> list[int]:
    """INSERT ``rows`` into ``table`` (integer primary key ``id``) in as few statements as the driver allows and
    return the new ids in the order of ``rows``.

    SQLAlchemy's ``returning(..., sort_by_parameter_order=True)`` gives that order on PostgreSQL in batched
    statements, but on SQLite it falls back to one statement per row (SQLite does not promise the order of
    RETURNING rows): 500 outbox rows were 500 INSERTs under the write lock. On SQLite the rows go in batched
    statements instead, and the ids are sorted: a rowid table gives each row inserted without an id one more than
    the largest before it, in the order of VALUES, while this transaction holds the only write lock, so the
    ascending ids follow ``rows``. A table whose largest rowid is SQLite's maximum draws random ids instead; the
    check below refuses that (the transaction rolls back) rather than pair rows with the wrong ids.
    """
    if not rows:
        return []
    if connection.dialect.name != "sqlite":
        statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
        found: Any = connection.execute(statement, rows)
        return [int(i) for i in found.scalars()]
    returned: Any = connection.execute(insert(table).returning(table.c.id), rows)
    ids = sorted(int(i) for i in returned.scalars())
    if len(ids) != len(rows) or ids[-1] - ids[0] != len(rows) - 1:
        raise RuntimeError(f"{table.name}: the new rows' ids are not consecutive; their order is unknown")
    return ids


class Database:
    """An engine and a session factory for one database URL."""

    def __init__(
        self, url: str, *, echo: bool = False, secrets: SecretBox | None = None, sqlite_synchronous: str = "FULL"
    ):
        """``secrets`` encrypt the personal-data columns; ``sqlite_synchronous``: ``FULL`` (a committed transaction
        survives a power failure) or ``NORMAL``."""
        if sqlite_synchronous not in ("FULL", "NORMAL"):
            raise ValueError(f"sqlite_synchronous must be FULL or NORMAL, got {sqlite_synchronous!r}")
        self.url = url
        kwargs: dict[str, Any] = {"echo": echo, "future": True}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        else:
            kwargs.update(pool_pre_ping=True, pool_size=10, max_overflow=20)
        self.engine: Engine = create_engine(url, **kwargs)
        # The encrypted columns find their keys here (the dialect is this engine's own).
        setattr(self.engine.dialect, BOX_ATTRIBUTE, secrets)
        if self.is_sqlite:
            _private_file(self.engine.url.database)
            _configure_sqlite(self.engine, sqlite_synchronous)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on error."""
        with self.sessions() as session, session.begin():
            yield session

    def create_all(self) -> None:
        """Create every table directly (tests of code that does not care about migrations)."""
        Base.metadata.create_all(self.engine)

    def checkpoint(self) -> None:
        """SQLite: copy the write-ahead log into the database file and truncate it, so overwritten data (an erased
        contact) is gone from both. Best effort: readers still open keep older frames until they finish."""
        if not self.is_sqlite:
            return
        raw = self.engine.raw_connection()
        try:
            # Outside any transaction (the pool's connections run in autocommit; SQLAlchemy issues BEGIN itself).
            driver = raw.driver_connection
            assert driver is not None  # an open pooled connection always has its DBAPI connection
            driver.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        finally:
            raw.close()

    def dispose(self) -> None:
        self.engine.dispose()


def _private_file(database: str | None) -> None:
    """Create the SQLite file with mode 0600 before SQLite does (it would use the umask, typically 0644), and take
    group/other access away from an existing one. SQLite gives the -wal and -shm files the database file's mode."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if not path.parent.is_dir():
        return  # SQLite reports the missing directory itself
    try:
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, FILE_MODE))
        for file in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            if file.exists() and file.stat().st_mode & 0o077:
                file.chmod(FILE_MODE)
    except OSError as exc:  # e.g. a file owned by another user: it still works, but say so
        log.warning("could not restrict %s to mode 0600: %s", database, exc)


class WriterTurns:
    """This process's threads take SQLite's one write lock in turns, queued on a Python lock.

    Every transaction starts with ``BEGIN IMMEDIATE`` (the write lock). Without the queue, threads that find the
    lock taken wait in SQLite's busy handler, which sleeps 1, 2, 5, ... up to 100 ms between looks: with a dozen
    threads storing webhooks, most of the time the lock was free while they slept (webhook ingest: 135 deliveries/s,
    p99 3 s, at 2 ms of CPU each). Queued here, the next thread starts the moment the previous one committed.
    Other processes on the same file still meet the lock in SQLite's busy handler, as before. A thread that
    already holds a turn (a second connection in the same thread) does not queue behind itself, and no thread
    queues longer than ``timeout``: it then falls back to SQLite's busy handler, as before.
    """

    def __init__(self, timeout: float):
        self.timeout = timeout
        self._lock = threading.Lock()
        self._guard = threading.Lock()  # one release per turn, whichever event comes first
        self._owner: int | None = None  # the thread holding the turn
        self._holder: int | None = None  # id() of the DBAPI connection whose transaction holds it

    def acquire(self, dbapi_conn: Any) -> None:
        me = threading.get_ident()
        if self._owner == me or not self._lock.acquire(timeout=self.timeout):
            return
        with self._guard:
            self._owner, self._holder = me, id(dbapi_conn)

    def release(self, dbapi_conn: Any) -> None:
        """The transaction on ``dbapi_conn`` ended (committed, rolled back, or its connection went back to the pool:
        whichever comes first; the others find nothing to release)."""
        with self._guard:
            if self._holder != id(dbapi_conn):
                return
            self._owner = self._holder = None
        self._lock.release()


def _configure_sqlite(engine: Engine, synchronous: str) -> None:
    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # let SQLAlchemy's "begin" event issue BEGIN
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: in WAL mode NORMAL skips the sync at commit, so a webhook already answered 200 can be lost on power
        # failure (the database stays consistent either way). See [database] sqlite_synchronous.
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        # Deleted and overwritten content is zeroed, not left in free pages (an erased customer stays erased).
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    turns = WriterTurns(timeout=30.0)

    @event.listens_for(engine, "begin")
    def _begin_immediate(conn: Any) -> None:
        # Take the write lock up front: a deferred transaction that reads then writes can fail
        # with SQLITE_BUSY even with a busy timeout. This process's threads queue for it in Python first (see
        # WriterTurns): SQLite's busy handler would have them sleep up to 100 ms while the lock is free.
        turns.acquire(conn.connection.dbapi_connection)
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            turns.release(conn.connection.dbapi_connection)
            raise

    @event.listens_for(engine, "commit")
    def _commit_and_pass_the_turn(conn: Any) -> None:
        # The event fires before SQLAlchemy's own COMMIT: commit here, then pass the turn on (the COMMIT that
        # follows finds no transaction open and does nothing), so the next thread never meets a held lock.
        dbapi_conn = conn.connection.dbapi_connection
        try:
            dbapi_conn.commit()
        except Exception:  # SQLAlchemy's own COMMIT, right after, raises it wrapped as usual
            pass
        finally:
            turns.release(dbapi_conn)

    @event.listens_for(engine, "rollback")
    def _rollback_and_pass_the_turn(conn: Any) -> None:
        dbapi_conn = conn.connection.dbapi_connection
        try:
            dbapi_conn.rollback()
        except Exception:  # as for the commit: SQLAlchemy's own ROLLBACK raises it
            pass
        finally:
            turns.release(dbapi_conn)

    @event.listens_for(engine, "checkin")
    def _returned(dbapi_conn: Any, _record: Any) -> None:
        # A connection back in the pool has no transaction (the pool rolled back any left open, without the
        # events above): its turn, if it still held one, is over.
        turns.release(dbapi_conn)
