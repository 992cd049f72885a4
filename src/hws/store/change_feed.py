"""Keeps a :class:`~hws.store.read_cache.ReadCache` coherent with a PostgreSQL database.

:class:`ChangeFeed` runs one thread with its own connection that ``LISTEN``s on the
``hws_changes`` channel (filled by the triggers of migration 0005) and evicts each
changed row from the cache. The cache is live only while that connection listens:
connection lost → cache off and emptied, reconnect with backoff, then live again.
It also watches the engine, so that a process reads its own writes: a transaction of
this process that wrote to a cached table does not hand its connection back (and so
the call that wrote does not answer) before the feed has applied that transaction's
evictions, or, failing that, the cache has been emptied.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
from typing import Any

from sqlalchemy import Connection, Engine, event
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.pool import ConnectionPoolEntry

from hws.store.notification_listener import NotificationListener, Unusable
from hws.store.read_cache import ReadCache

log = logging.getLogger("hws.store.change_feed")

CHANNEL = "hws_changes"
APPLICATION_NAME = "hws-change-feed"
#: the triggers migration 0005 creates; without all of them the cache never goes live
TRIGGERS = ("hws_notify_imports", "hws_notify_service_requests", "hws_notify_clients", "hws_notify_client_keys")
_WRITES_CACHED_TABLE = re.compile(r"\b(imports|service_requests|clients|client_keys)\b")
_DIRTY = "hws_wrote_cached_rows"
_SYNC = "hws_change_marker"
_MARKER = "marker"


def _writes_cached_rows(statement: str) -> bool:
    head = statement.lstrip()[:6].upper()
    return head in ("INSERT", "UPDATE", "DELETE") and _WRITES_CACHED_TABLE.search(statement) is not None


class ChangeFeed(NotificationListener):
    channel = CHANNEL
    application_name = APPLICATION_NAME
    thread_name = "hws-change-feed"
    listening_state = "live"
    down_event = "cache.feed_down"
    off_event = "cache.off"

    def __init__(
        self,
        engine: Engine,
        cache: ReadCache,
        *,
        retry_seconds: float = 1.0,
        max_retry_seconds: float = 30.0,
        sync_timeout: float = 2.0,
    ) -> None:
        super().__init__(engine, retry_seconds=retry_seconds, max_retry_seconds=max_retry_seconds)
        self.cache = cache
        self.sync_timeout = sync_timeout
        self._expected: dict[str, threading.Event] = {}  # markers of this process's commits not yet heard
        self._watching = False

    # Lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._watch_local_writes()
        super().start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self.cache.set_live(False)
        super().stop(timeout)

    # This process's own writes --------------------------------------------------

    def _watch_local_writes(self) -> None:
        """A transaction of this process that writes a cached table also sends a marker on
        the channel just before it commits; when its connection comes back to the pool the
        thread waits (``sync_timeout`` at most) until the feed has heard the marker — and
        so every eviction of that transaction, sent before it in the same transaction.
        Without the marker in time (feed down, commit failed) the whole cache is emptied."""
        if self._watching:
            return
        self._watching = True
        cache = self.cache

        @event.listens_for(self.engine, "before_cursor_execute")
        def _mark(conn: Connection, _cursor: Any, statement: str, _parameters: Any, _context: Any, _executemany: bool) -> None:
            if _writes_cached_rows(statement):
                conn.info[_DIRTY] = True

        @event.listens_for(self.engine, "commit")
        def _committing(conn: Connection) -> None:
            if not conn.info.get(_DIRTY) or not cache.live:
                return
            previous = conn.info.pop(_SYNC, None)  # an earlier transaction on this connection: the new marker covers it
            if previous is not None:
                self._expected.pop(previous[0], None)
            marker = secrets.token_hex(8)
            heard = self._expected[marker] = threading.Event()
            try:  # same transaction, on the driver connection: delivered after the rows' own notifications
                driver = conn.connection.dbapi_connection
                assert driver is not None  # inside a transaction the connection is checked out
                driver.execute("SELECT pg_notify(%s, %s)", (CHANNEL, f"{_MARKER}:{marker}"))
            except Exception:  # the commit will fail too; the check-in empties the cache
                self._expected.pop(marker, None)
                return
            conn.info[_SYNC] = (marker, heard)

        @event.listens_for(self.engine, "rollback")
        def _rolled_back(conn: Connection) -> None:
            if conn.invalidated:
                return  # the connection is gone (outage): the check-in empties the cache without waiting
            pending = conn.info.pop(_SYNC, None)  # a marker sent in a transaction that did not commit never comes
            if pending is not None:
                self._expected.pop(pending[0], None)

        @event.listens_for(self.engine.pool, "checkin")
        def _returned(dbapi_connection: DBAPIConnection | None, record: ConnectionPoolEntry | None) -> None:
            if record is None or not record.info.pop(_DIRTY, False):
                return
            pending = record.info.pop(_SYNC, None)
            if pending is not None and dbapi_connection is None:  # invalidated: the commit may have failed
                self._expected.pop(pending[0], None)
            elif pending is not None:
                marker, heard = pending
                try:
                    if heard.wait(self.sync_timeout) and cache.live:
                        return  # every eviction of this transaction has been applied
                finally:
                    self._expected.pop(marker, None)
            cache.clear()

    # The listening thread -------------------------------------------------------

    def _check(self, connection: Any) -> None:
        missing = set(TRIGGERS) - {
            row[0] for row in connection.execute("SELECT tgname FROM pg_trigger WHERE tgname = ANY(%s)", (list(TRIGGERS),))
        }
        if missing:
            raise Unusable(f"change-notification triggers missing ({', '.join(sorted(missing))}): run hws admin db upgrade")

    def _listening(self) -> None:
        self.cache.set_live(True)
        log.info("read cache live", extra={"event": "cache.live"})

    def _heard(self, payload: str) -> None:
        table, _, key = payload.partition(":")
        if table == _MARKER:
            heard = self._expected.get(key)
            if heard is not None:  # ours (other processes' markers are not)
                heard.set()
        else:
            self.cache.evict(table, key)

    def _not_listening(self) -> None:
        self.cache.set_live(False)
        for heard in list(self._expected.values()):
            heard.set()  # waiting is pointless now: the cache is off and empty
