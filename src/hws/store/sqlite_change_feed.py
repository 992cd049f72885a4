"""Keeps a :class:`~hws.store.read_cache.ReadCache` coherent with a SQLite database (the
embedded default), across every process that writes to it.

Triggers (migration 0007) append ``(name, key)`` to ``cache_changes`` in the transaction
that changes a cached row. Before every cache read (:attr:`ReadCache.sync`), the feed asks
its own connection ``PRAGMA data_version``, which changes whenever any *other* connection
— another thread's, another process's — has committed; only then does it read the new
rows of the change log and evict what they name. So a read never answers from the cache
what a commit before it has changed: unlike PostgreSQL's notifications, nothing arrives
late. Costs: a few microseconds per read when nothing changed.

The cache is live only while the feed's connection works and the triggers exist; a
reader that fell behind the change log's pruning empties the whole cache; a failing
connection turns the cache off (every read goes to the database) and is opened again a
moment later.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine

from hws.store.compiled_reads import CompiledRead, DirectReadUnavailable
from hws.store.read_cache import ReadCache

log = logging.getLogger("hws.store.sqlite_change_feed")

#: the triggers migration 0007 creates; without all of them the cache never goes live
TRIGGERS = tuple(
    f"hws_cache_{table}_{operation}"
    for table in ("imports", "service_requests", "clients", "client_keys")
    for operation in ("insert", "update", "delete")
)


class SqliteChangeFeed:
    def __init__(self, engine: Engine, cache: ReadCache, *, retry_seconds: float = 1.0, off_retry_seconds: float = 30.0) -> None:
        if engine.dialect.name != "sqlite":
            raise ValueError("this change feed reads a SQLite database")
        database = engine.url.database
        if not database or database == ":memory:":
            raise ValueError("the read cache needs a SQLite database file (other processes cannot see an in-memory one)")
        self.path = database
        self.cache = cache
        self.dialect = engine.dialect
        self.retry_seconds = retry_seconds
        self.off_retry_seconds = off_retry_seconds
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._version: int | None = None
        self._last = 0
        self._retry_at = 0.0
        self._running = False
        #: for operators (``/readyz`` details): stopped, live, down: …, off: …
        self.state = "stopped"

    def start(self) -> None:
        with self._lock:
            self._running = True
            self._open()
        self.cache.sync = self.sync

    def stop(self) -> None:
        self.cache.sync = None
        with self._lock:
            self._running = False
            self._close()
            self.state = "stopped"

    # Under the lock --------------------------------------------------------------

    def _open(self) -> None:
        try:
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=15)
        except sqlite3.Error as exc:
            self._down(exc)
            return
        try:
            present = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
            missing = sorted(set(TRIGGERS) - present)
            if missing:
                db.close()
                self.state = f"off: change-log triggers missing ({len(missing)} of {len(TRIGGERS)}): run hws admin db upgrade"
                log.warning("read cache off: %s", self.state, extra={"event": "cache.off"})
                self._retry_at = time.monotonic() + self.off_retry_seconds
                return
            self._version = int(db.execute("PRAGMA data_version").fetchone()[0])
            self._last = int(db.execute("SELECT coalesce(max(seq), 0) FROM cache_changes").fetchone()[0])
        except sqlite3.Error as exc:
            db.close()
            self._down(exc)
            return
        self._db = db
        self.cache.set_live(True)
        self.state = "live"
        log.info("read cache live (SQLite change log)", extra={"event": "cache.live"})

    def _close(self) -> None:
        self.cache.set_live(False)
        if self._db is not None:
            try:
                self._db.close()
            except sqlite3.Error:
                pass
            self._db = None

    def _down(self, exc: BaseException) -> None:
        self._close()
        self.state = f"down: {type(exc).__name__}: {exc}"
        self._retry_at = time.monotonic() + self.retry_seconds
        log.warning("read cache off: %s", exc, extra={"event": "cache.feed_down"})

    # Direct reads --------------------------------------------------------------------

    def fetch_one(self, read: CompiledRead, params: Mapping[str, Any]) -> Any:
        """One row read on the feed's own connection (microseconds, no thread hop: for a
        cache miss on the event loop). A reader in WAL mode does not wait for writers.
        :class:`DirectReadUnavailable` while the feed is down or when SQLite refuses the
        read: the caller reads through the engine instead."""
        with self._lock:
            if self._db is None:
                raise DirectReadUnavailable(self.state)
            try:
                return read.fetch_one(self._db, self.dialect, params)
            except sqlite3.Error as exc:
                raise DirectReadUnavailable(f"{type(exc).__name__}: {exc}") from exc

    # Before every read -------------------------------------------------------------

    def sync(self) -> None:
        """Apply what was committed since the last call (nothing to do, usually)."""
        with self._lock:
            db = self._db
            if db is None:
                if self._running and time.monotonic() >= self._retry_at:
                    self._open()
                return
            try:
                version = int(db.execute("PRAGMA data_version").fetchone()[0])
                if version == self._version:
                    return
                rows = db.execute("SELECT seq, name, key FROM cache_changes WHERE seq > ? ORDER BY seq", (self._last,)).fetchall()
            except sqlite3.Error as exc:
                self._down(exc)
                return
            self._version = version
            if not rows:
                return
            if rows[0][0] != self._last + 1:  # pruned past what we saw: anything may have changed
                self.cache.clear()
            else:
                for _seq, name, key in rows:
                    self.cache.evict(name, key)
            self._last = int(rows[-1][0])
