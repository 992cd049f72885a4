"""Single use of client assertions, shared by every process through the database.

:func:`record_first_use` is the atomic check-and-insert: of any number of concurrent
calls with the same key, exactly one returns ``True``.

Every commit is durable before a call returns (on SQLite a write-ahead-log fsync, with
``synchronous=FULL``; on PostgreSQL a WAL flush), and on SQLite there is one writer at a
time, so the calls of one process are committed in groups, on both databases: a call
that finds no commit under way commits itself together with every call then waiting, in
one transaction (each its own check-and-insert, in arrival order, plus one multi-row
insert of the issuances' audit records), then hands the turn to the next waiting call.
Each call returns only once its own use is committed, and a failed transaction fails
every call in it. On SQLite the commit threads of several processes queue on a lock file
next to the database before they begin; on PostgreSQL they meet in the unique index. The
database stays the single arbiter of first use either way.

Async callers (the token endpoint on the event loop) wait on a future; their group is
committed by a small per-engine commit thread, so the loop never waits on the disk.

On PostgreSQL the check-and-insert is one statement per key (``INSERT … ON CONFLICT DO
UPDATE … WHERE expired RETURNING``), sent through the driver's cursor inside the
SQLAlchemy transaction: it is the hot path of the token endpoint, and SQLAlchemy's
per-statement bookkeeping cost more than the statement itself. On SQLite the group's
transaction holds the database's write lock from ``BEGIN IMMEDIATE``, so it reads the
group's stored keys in one statement, decides each use in arrival order as that
statement would, and writes the taken keys and the audit rows in one statement each:
three statements whatever the group's size (each driver call is a trip through the GIL
for the commit thread, which a busy event loop delays).
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import queue
import threading
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Dialect, Engine, bindparam, delete, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.sql.dml import Insert

from hws.store.sqlite_writers import begin_immediate
from hws.store.tables import assertion_uses, audit_events

log = logging.getLogger("hws.store")


def _first_use_statement(postgres: bool) -> Insert:
    """Insert the use, or take over an expired row of the same key (ON CONFLICT, in
    PostgreSQL's and SQLite's own insert constructs)."""
    stmt = (postgresql.insert if postgres else sqlite.insert)(assertion_uses).values(
        key=bindparam("key"), expires_at=bindparam("expires_at")
    )
    return stmt.on_conflict_do_update(
        index_elements=[assertion_uses.c.key],
        set_={"expires_at": stmt.excluded.expires_at},
        where=assertion_uses.c.expires_at < bindparam("now"),
    ).returning(assertion_uses.c.key)


def _driver_sql(stmt: Insert, dialect: Dialect) -> tuple[str, tuple[str, ...] | None]:
    """``stmt`` as the driver's SQL text, and the order of its parameters when positional."""
    compiled = stmt.compile(dialect=dialect)
    return str(compiled), tuple(compiled.positiontup or ()) if compiled.positional else None


# Compiled once per dialect (with the engine's own dialect, so its driver's paramstyle):
# the statement is the same for every call, only its parameters change.
_FIRST_USE: dict[str, tuple[str, tuple[str, ...] | None]] = {}


def _first_use_sql(dialect: Dialect) -> tuple[str, tuple[str, ...] | None]:
    key = f"{dialect.name}+{dialect.driver}"
    found = _FIRST_USE.get(key)
    if found is None:
        found = _FIRST_USE[key] = _driver_sql(_first_use_statement(dialect.name == "postgresql"), dialect)
    return found


_AUDIT = insert(audit_events)


_AUDIT_COLUMNS = ("at", "actor", "office", "action", "target", "outcome", "source", "detail")
_AUDIT_SQL: dict[str, tuple[str, tuple[str, ...] | None, list[tuple[str, Any]]]] = {}


def _audit_sql(dialect: Any) -> tuple[str, tuple[str, ...] | None, list[tuple[str, Any]]]:
    """The audit insert as driver SQL, its parameter order, and each column with its bind
    processor, in that order (so a row is stored exactly as SQLAlchemy would store it)."""
    key = f"{dialect.name}+{dialect.driver}"
    found = _AUDIT_SQL.get(key)
    if found is None:
        stmt = _AUDIT.values({name: bindparam(name) for name in _AUDIT_COLUMNS}).inline()
        sql, order = _driver_sql(stmt, dialect)
        columns = [(name, audit_events.c[name].type.bind_processor(dialect)) for name in order or _AUDIT_COLUMNS]
        found = _AUDIT_SQL[key] = (sql, order, columns)
    return found


def _audit_params(row: dict[str, Any], order: tuple[str, ...] | None, columns: list[tuple[str, Any]]) -> Any:
    values = [(name, process(row.get(name)) if process is not None else row.get(name)) for name, process in columns]
    return tuple(value for _, value in values) if order else dict(values)


def _record_all(conn: Connection, uses: Sequence[_Use]) -> None:
    """Check-and-insert each use in order (in the caller's transaction), then write the
    audit records of the first uses in one multi-row insert. A driver error is raised
    as SQLAlchemy would raise it (so an outage is recognised as one)."""
    dbapi_error = conn.dialect.loaded_dbapi.Error
    try:
        _record_all_driver(conn.connection.dbapi_connection, conn.dialect, uses)
    except dbapi_error as exc:
        raise DBAPIError.instance(None, None, exc, dbapi_error) from exc


def _record_all_driver(connection: Any, dialect: Any, uses: Sequence[_Use]) -> None:
    sql, order = _first_use_sql(dialect)
    cursor = connection.cursor()
    try:
        for use in uses:
            replayed: int | None = None
            for index, (key, expires_at) in enumerate(((use.key, use.expires_at), *use.also)):
                values = {"key": key, "expires_at": expires_at, "now": use.now}
                cursor.execute(sql, tuple(values[name] for name in order) if order else values)
                if cursor.fetchone() is None and replayed is None:
                    replayed = index
            use.first, use.replayed = replayed is None, replayed
        audits = [use.audit for use in uses if use.first and use.audit is not None]
        if audits:  # the issuances' audit records, in the same transaction
            audit_sql, audit_order, processors = _audit_sql(dialect)
            cursor.executemany(audit_sql, [_audit_params(row, audit_order, processors) for row in audits])
    finally:
        cursor.close()


#: rows per statement in :func:`_record_all_sqlite` (8 parameters an audit row: within
#: SQLite's smallest limit of 999 parameters a statement)
_ROWS_PER_STATEMENT = 100
_SQLITE_SQL: dict[tuple[str, int], str] = {}


def _sqlite_sql(kind: str, rows: int, dialect: Any) -> str:
    """The SQLite statements of :func:`_record_all_sqlite` for ``rows`` rows (built once)."""
    found = _SQLITE_SQL.get((kind, rows))
    if found is None:
        quote = dialect.identifier_preparer.quote
        table, key, expires_at = quote(assertion_uses.name), quote("key"), quote("expires_at")
        if kind == "read":
            found = f"SELECT {key}, {expires_at} FROM {table} WHERE {key} IN ({', '.join(['?'] * rows)})"
        elif kind == "claim":
            found = (
                f"INSERT INTO {table} ({key}, {expires_at}) VALUES {', '.join(['(?, ?)'] * rows)} "
                f"ON CONFLICT ({key}) DO UPDATE SET {expires_at} = excluded.{expires_at}"
            )
        else:
            head, values = _audit_sql(dialect)[0].split(" VALUES ", 1)
            found = f"{head} VALUES {', '.join([values] * rows)}"
        _SQLITE_SQL[(kind, rows)] = found
    return found


def _chunks(items: Sequence[Any], size: int = _ROWS_PER_STATEMENT) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _record_all_sqlite(connection: Any, dialect: Any, uses: Sequence[_Use]) -> None:
    """:func:`_record_all_driver`'s outcome on SQLite in three statements whatever the
    group's size (each statement is a round trip through the GIL for the commit thread).

    It runs under ``BEGIN IMMEDIATE``: this connection holds the database's write lock, so
    nothing changes between the read and the writes. The uses are decided in order exactly
    as the statement per key decides them (a key is free when it is not stored or its
    stored ``expires_at`` is before the use's ``now``; every free key of a use is taken,
    even when another of its keys was a replay); then the taken keys are written in one
    upsert and the first uses' audit rows in one insert."""
    keys = list(dict.fromkeys(key for use in uses for key in (use.key, *(k for k, _ in use.also))))
    stored: dict[str, Any] = {}
    cursor = connection.cursor()
    try:
        for chunk in _chunks(keys, 500):
            stored.update(cursor.execute(_sqlite_sql("read", len(chunk), dialect), chunk).fetchall())
        taken: dict[str, int] = {}
        verdicts: list[int | None] = []  # each use's replayed key, None for a first use
        for use in uses:
            replayed: int | None = None
            for index, (key, expires_at) in enumerate(((use.key, use.expires_at), *use.also)):
                held = stored.get(key)
                if held is not None and not held < use.now:
                    if replayed is None:
                        replayed = index
                    continue
                stored[key] = taken[key] = expires_at
            verdicts.append(replayed)
        claims = list(taken.items())
        for chunk in _chunks(claims):
            cursor.execute(_sqlite_sql("claim", len(chunk), dialect), [value for row in chunk for value in row])
        audits = [use.audit for use, replayed in zip(uses, verdicts, strict=True) if replayed is None and use.audit is not None]
        if audits:  # the issuances' audit records, in the same transaction
            _, order, columns = _audit_sql(dialect)
            for chunk in _chunks(audits):
                params = [value for row in chunk for value in _audit_params(row, order, columns)]
                cursor.execute(_sqlite_sql("audit", len(chunk), dialect), params)
    finally:
        cursor.close()
    for use, replayed in zip(uses, verdicts, strict=True):  # every statement went through
        use.first, use.replayed = replayed is None, replayed


def _resolve(futures: list[asyncio.Future[None]]) -> None:
    for future in futures:
        if not future.done():
            future.set_result(None)


@dataclass(eq=False)
class _Use:
    key: str
    expires_at: int
    now: int
    audit: dict[str, Any] | None = None
    #: further keys to remember in the same transaction (key, expires_at): the use is a
    #: first use only when every key is; ``replayed`` is the index of the first that is not
    also: tuple[tuple[str, int], ...] = ()
    first: bool = False
    replayed: int | None = None
    error: BaseException | None = None
    done: bool = False
    batched: bool = False  # taken into a transaction (its outcome comes with that one's)
    leading: bool = False  # its commit was handed to the commit thread
    wake: threading.Event | None = None  # a thread's: committed, or your turn (made when it waits)
    loop: asyncio.AbstractEventLoop | None = None  # an async caller's: woken through its loop
    future: asyncio.Future[None] | None = None

    def notify(self) -> None:
        if self.loop is None or self.future is None:
            if self.wake is None:
                self.wake = threading.Event()
            self.wake.set()
        else:
            _notify_loops([self])

    def outcome(self) -> bool:
        if self.error is not None:
            raise self.error
        return self.first


def _notify_loops(uses: Sequence[_Use]) -> None:
    """Wake every async caller of ``uses``: one call into each event loop for all of its
    callers (each call is a write to the loop's wake-up pipe)."""
    by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
    for use in uses:
        if use.loop is not None and use.future is not None:
            by_loop.setdefault(use.loop, []).append(use.future)
    for loop, futures in by_loop.items():
        try:
            loop.call_soon_threadsafe(_resolve, futures)
        except RuntimeError:  # its loop is closed: no one is waiting any more
            pass


def _commit_loop(group_ref: weakref.ref[_GroupCommit], jobs: queue.SimpleQueue[Any]) -> None:
    """The commit thread of a group: leads each handed-over turn (``(engine, use)``)
    until told to stop (``None``) or the group is gone."""
    while True:
        job = jobs.get()
        group = group_ref()
        if job is None or group is None:
            return
        try:
            group._lead(job[0], job[1], commit_thread=True)
        except Exception:  # every call's outcome is already set; keep the thread alive
            log.exception("single-use commit thread", extra={"event": "single_use.commit_thread"})
        del group, job


class _GroupCommit:
    """One engine's calls waiting for a commit, and whether one is under way.

    The call whose turn it is (the "leader") commits in its own thread, or, for an async
    caller, in this group's one commit thread, so an event loop never waits on the disk.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: list[_Use] = []
        self._committing = False
        self._jobs: queue.SimpleQueue[Any] | None = None  # turns handed to the commit thread
        self._lock_file: int | bool | None = None  # fd of the writers' lock file; False: none
        self._connection: Any = None  # SQLite: the leaders' own driver connection
        self._pool: Any = None  # the pool it came from (another after engine.dispose())

    def __del__(self) -> None:
        self._drop_connection()
        if isinstance(self._lock_file, int) and not isinstance(self._lock_file, bool):
            os.close(self._lock_file)

    @contextmanager
    def _writers_queue(self, engine: Engine) -> Iterator[None]:
        """On a SQLite file, the processes' commit threads queue on a lock file (a
        blocking ``flock``) before ``BEGIN IMMEDIATE``, instead of meeting in SQLite's
        busy handler, which sleeps between tries (1, 2, 5, … 100 ms). Advisory only: any
        other writer still gets SQLite's own locking, which stays the arbiter."""
        if self._lock_file is None:
            database = engine.url.database if engine.dialect.name == "sqlite" else None
            if not database or database == ":memory:" or database.startswith("file:"):
                self._lock_file = False
            else:
                self._lock_file = os.open(f"{database}-single-use.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        if self._lock_file is False:
            yield
            return
        fcntl.flock(self._lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)

    def _commit_sqlite(self, engine: Engine, batch: Sequence[_Use]) -> None:
        """One transaction for ``batch`` on this group's own driver connection (taken out
        of the pool once; only the leader uses it): ``BEGIN IMMEDIATE`` … ``COMMIT``
        without the pool's and the Connection's bookkeeping. Any driver error closes the
        connection (the next group opens a fresh one) and is raised as SQLAlchemy's."""
        dbapi_error = engine.dialect.loaded_dbapi.Error
        if self._connection is not None and self._pool is not engine.pool:  # disposed: start afresh
            self._drop_connection()
        try:
            if self._connection is None:
                raw = engine.raw_connection()
                raw.detach()
                self._connection, self._pool = raw.dbapi_connection, engine.pool
            connection = self._connection
            begin_immediate(connection)  # after this process's other writers
            try:
                _record_all_sqlite(connection, engine.dialect, batch)
                connection.commit()
            except BaseException:
                self._drop_connection()  # closing rolls back what was not committed
                raise
        except dbapi_error as exc:
            self._drop_connection()
            raise DBAPIError.instance(None, None, exc, dbapi_error) from exc

    def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.close()
            except Exception:  # it is being discarded anyway
                pass

    def _commit(self, engine: Engine, batch: Sequence[_Use]) -> None:
        if engine.dialect.name == "sqlite":
            with self._writers_queue(engine):
                self._commit_sqlite(engine, batch)
        else:
            with engine.begin() as conn:
                _record_all(conn, batch)

    def _commit_isolated(self, engine: Engine, batch: Sequence[_Use]) -> None:
        """Commit ``batch`` in one transaction; each call's ``error`` says how it went.

        When that transaction fails for something other than the database being
        unreachable or busy (one call's values the driver cannot store, say), each call is
        committed again on its own, so one request's bad data fails only that request
        (checklist auth rule 17)."""
        try:
            self._commit(engine, batch)
            error: BaseException | None = None
        except BaseException as exc:  # the transaction failed for every call in it
            error = exc
        if error is None or len(batch) == 1 or isinstance(error, OperationalError | KeyboardInterrupt | SystemExit):
            for item in batch:
                item.error = error
            return
        for item in batch:
            item.first = False
            try:
                self._commit(engine, [item])
                item.error = None
            except BaseException as exc:  # handed to that call alone
                item.error = exc

    def _join(self, use: _Use) -> bool:
        """Queue ``use`` behind a commit under way (``True``), or make it the leader."""
        with self._lock:
            wait = self._committing
            if wait:
                self._waiting.append(use)
            self._committing = True
        return wait

    def _lead(self, engine: Engine, use: _Use, *, commit_thread: bool = False) -> None:
        """Commit ``use`` with every call now waiting, then pass the turn on.

        In the commit thread the turn of a waiting async call is taken on the spot
        (handing it over would only make that call hand it back to this thread)."""
        while True:
            with self._lock:
                batch, self._waiting = [use, *self._waiting], []
                for item in batch:
                    item.batched = True
            self._commit_isolated(engine, batch)
            for item in batch:
                item.done = True
            woken = batch if commit_thread else [item for item in batch if item is not use]
            _notify_loops(woken)
            for item in woken:
                if item.loop is None:
                    item.notify()
            with self._lock:
                if not self._waiting:
                    self._committing = False
                    return
                successor = self._waiting.pop(0)
                if commit_thread and successor.loop is not None:
                    successor.batched = True  # led here, so it will not lead again if cancelled
                    use = successor
                    continue
            successor.notify()  # the turn passes on; still committing
            return

    def record(self, engine: Engine, use: _Use) -> bool:
        use.wake = threading.Event()
        if self._join(use):
            use.wake.wait()
        if not use.done:  # this call's turn
            self._lead(engine, use)
        return use.outcome()

    def _hand_over(self, engine: Engine, use: _Use) -> None:
        """Give ``use``'s turn to this group's commit thread (started on first use)."""
        jobs = self._jobs
        if jobs is None:
            with self._lock:
                if self._jobs is None:
                    self._jobs = queue.SimpleQueue()
                    threading.Thread(
                        target=_commit_loop, args=(weakref.ref(self), self._jobs), name="hws-single-use", daemon=True
                    ).start()
                    weakref.finalize(self, self._jobs.put, None)  # the thread ends with the group
                jobs = self._jobs
        jobs.put((engine, use))

    async def record_async(self, engine: Engine, use: _Use) -> bool:
        loop = use.loop = asyncio.get_running_loop()
        use.future = loop.create_future()
        try:
            if self._join(use):
                await use.future
            if not use.done:  # this call's turn; the commit goes on even if the caller goes
                use.leading = True
                use.future = loop.create_future()
                loop.call_soon(_HandOver(self, engine, use))  # at the end of this pass (see _HandOver)
                await use.future
        except asyncio.CancelledError:
            if use.leading:
                raise
            with self._lock:
                if use in self._waiting:  # never taken: just leave the queue
                    self._waiting.remove(use)
                    turn = False
                else:
                    turn = not use.batched
            if turn:  # the turn was passed to this call: lead anyway, so no one waits forever
                self._hand_over(engine, use)
            raise
        return use.outcome()


class _HandOver:
    """An async leader's hand-over to the commit thread, run by its event loop once the
    callbacks that were ready when it was scheduled have run: the other requests that
    loop answers in the same pass join this group instead of each starting a transaction
    of their own (the group commit is flushed at the end of the loop's pass), and the
    commit thread does not take the interpreter from the loop in the middle of that pass.
    Nothing is answered before its own commit, as before.

    Should the loop be closed before it runs it (its ready callbacks dropped), the turn is
    handed over when this object is released, so the group is never left waiting."""

    __slots__ = ("engine", "group", "pending", "use")

    def __init__(self, group: _GroupCommit, engine: Engine, use: _Use) -> None:
        self.group, self.engine, self.use, self.pending = group, engine, use, True

    def __call__(self) -> None:
        if self.pending:
            self.pending = False
            self.group._hand_over(self.engine, self.use)

    def __del__(self) -> None:
        self()


_GROUPS: weakref.WeakKeyDictionary[Engine, _GroupCommit] = weakref.WeakKeyDictionary()
_GROUPS_LOCK = threading.Lock()


def _group(engine: Engine) -> _GroupCommit:
    with _GROUPS_LOCK:
        group = _GROUPS.get(engine)
        if group is None:
            group = _GROUPS[engine] = _GroupCommit()
        return group


def record_first_use(engine: Engine, key: str, expires_at: int, now: int, audit: dict[str, Any] | None = None) -> bool:
    """Remember ``key`` until ``expires_at``; ``False`` if it is already remembered.

    A remembered key whose time has passed (not yet purged) is taken over. ``audit`` (an
    ``audit_events`` row) is written in the same transaction when the use is the first.
    """
    return _group(engine).record(engine, _Use(key, expires_at, now, audit))


async def record_first_use_async(
    engine: Engine, key: str, expires_at: int, now: int, audit: dict[str, Any] | None = None
) -> bool:
    """:func:`record_first_use` for an event loop: the commit runs off the loop's thread."""
    return await _group(engine).record_async(engine, _Use(key, expires_at, now, audit))


def _keys_use(keys: Sequence[tuple[str, int]], now: int, audit: dict[str, Any] | None) -> _Use:
    if not keys:
        raise ValueError("at least one key")
    (key, expires_at), *also = keys
    return _Use(key, expires_at, now, audit, also=tuple(also))


def record_first_uses(
    engine: Engine, keys: Sequence[tuple[str, int]], now: int, audit: dict[str, Any] | None = None
) -> int | None:
    """Remember several keys (key, expires_at) in one transaction (a client assertion and
    the DPoP proof sent with it); ``None`` when each is a first use, else the index of the
    first key already remembered. ``audit`` is written only when every key is new."""
    use = _keys_use(keys, now, audit)
    return None if _group(engine).record(engine, use) else use.replayed


async def record_first_uses_async(
    engine: Engine, keys: Sequence[tuple[str, int]], now: int, audit: dict[str, Any] | None = None
) -> int | None:
    """:func:`record_first_uses` for an event loop."""
    use = _keys_use(keys, now, audit)
    return None if await _group(engine).record_async(engine, use) else use.replayed


def purge_expired(engine: Engine, now: int) -> int:
    """Forget uses whose assertions can no longer be valid; returns how many."""
    with engine.begin() as conn:
        return conn.execute(delete(assertion_uses).where(assertion_uses.c.expires_at < now)).rowcount
