"""The in-process queue of a SQLite database's writers.

SQLite lets one connection write at a time; a writer that finds the lock taken waits in
SQLite's busy handler, which *sleeps* between tries: 1, 2, 5, 10 … 100 ms. Two threads of
one process that write to the same file — the API's receipts, the job runner's imports,
the token endpoint's commit thread, the lease keeper — would meet there many times a second
under load, and each meeting costs the loser at least a millisecond of doing nothing while
the lock was free again after a few hundred microseconds.

So every write transaction on the embedded default first takes this process's lock for
that database file (a plain ``threading.Lock``, handed to the next waiter as soon as it is
released), then ``BEGIN IMMEDIATE``; the lock is released right after ``COMMIT`` or
``ROLLBACK`` — not before them, as SQLAlchemy's ``commit`` event would. Other processes
writing to the same file (``hws worker`` beside ``hws serve``, an ``hws admin`` command)
still meet in SQLite's own locking, which stays the arbiter; this lock only orders the
threads of one process.

A writer that cannot have the lock within the busy timeout goes on to ``BEGIN IMMEDIATE``
without it, so that a transaction left open by mistake in this process turns into SQLite's
"database is locked" after the same wait as before, never into a hang.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from typing import Any

#: Seconds a writer waits for this process's lock, then for SQLite's (busy_timeout).
BUSY_SECONDS = 15.0

_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def writer_lock(database: str) -> threading.Lock:
    """This process's lock for the SQLite file ``database`` (one per file, however the
    path is spelt)."""
    if not database.startswith("file:"):
        database = os.path.realpath(database)
    with _locks_guard:
        lock = _locks.get(database)
        if lock is None:
            lock = _locks[database] = threading.Lock()
        return lock


class WriterConnection(sqlite3.Connection):
    """A driver connection whose write transactions queue on this process's lock for its
    database (``sqlite3.connect(..., factory=WriterConnection)``). Begin them with
    :meth:`begin_immediate`; ``commit``, ``rollback`` and ``close`` release the lock
    after doing their work."""

    def __init__(self, database: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(database, *args, **kwargs)
        name = str(database)
        # A private in-memory database has no other connection to meet.
        self._writers: threading.Lock | None = None if name in (":memory:", "") else writer_lock(name)
        self._holding = False

    def begin_immediate(self) -> None:
        """``BEGIN IMMEDIATE``, after this process's other writers to the file."""
        lock = self._writers
        if lock is not None and not self._holding:
            self._holding = lock.acquire(timeout=BUSY_SECONDS)
        try:
            self.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._release()
            raise

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            if not self.in_transaction:
                self._release()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._release()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._release()

    def _release(self) -> None:
        if self._holding:
            self._holding = False
            assert self._writers is not None
            self._writers.release()


def begin_immediate(connection: Any) -> None:
    """``BEGIN IMMEDIATE`` on a SQLite driver connection: after this process's other
    writers when it is a :class:`WriterConnection` (the engine's), on SQLite's locking
    alone when it was made some other way."""
    if isinstance(connection, WriterConnection):
        connection.begin_immediate()
    else:
        connection.execute("BEGIN IMMEDIATE")
