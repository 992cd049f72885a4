"""A process's cache of rows it reads on every call (clients, import and service-request
statuses), kept coherent with the database by change notifications.

Status polls are most of HWS's traffic, and most of them find nothing changed. On
PostgreSQL the cache lets an API process answer such a poll without a database round
trip, and stays correct because it is only *live* while it hears every change:

* :class:`hws.store.change_feed.ChangeFeed` listens on the ``hws_changes`` channel, which
  triggers (migration 0005) fill with ``table:key`` for every committed row change, by
  any process; each notification evicts that entry;
* a process reads its own writes: a call that changed cached rows answers only once
  the feed has applied that transaction's evictions (or, failing that within a
  moment, once the whole cache has been emptied);
* while the feed is not connected and listening (start, database outage, restart) the
  cache is off: every read goes to the database and nothing is kept;
* a value read from the database is kept only if no eviction happened while it was read
  (a *generation* taken before the read), so a value read just before a change can
  never outlive its eviction.

What remains is the delay between another process's commit and the notification
reaching this one (normally well under a millisecond): a poll in that instant answers
the state of a moment ago, as if it had arrived a moment earlier.

On SQLite (:class:`hws.store.sqlite_change_feed.SqliteChangeFeed`) there is no such delay:
the feed sets :attr:`ReadCache.sync`, which every read calls first; it asks SQLite whether
anything was committed since it last looked (``PRAGMA data_version``, microseconds) and,
if so, evicts what the change log names before the read goes on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar, cast

T = TypeVar("T")

#: What :meth:`ReadCache.peek` returns for an entry it does not hold.
MISSING: Any = object()


class ReadCache:
    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._entries: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()
        self._generation = 0
        self._live = False
        self.hits = 0
        self.misses = 0
        #: called before every read to apply the changes committed since (SQLite's feed)
        self.sync: Callable[[], None] | None = None

    # The feed's side ------------------------------------------------------------

    @property
    def live(self) -> bool:
        return self._live

    def set_live(self, live: bool) -> None:
        """Going live or not: either way, nothing kept from before survives."""
        with self._lock:
            self._live = live
            self._generation += 1
            self._entries.clear()

    def evict(self, table: str, key: str) -> None:
        with self._lock:
            self._generation += 1
            self._entries.pop((table, key), None)

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()

    # The reader's side ----------------------------------------------------------

    def peek(self, table: str, key: str) -> Any:
        """The kept value or :data:`MISSING` (cheap: for the event loop)."""
        if self.sync is not None:
            self.sync()
        value = self._entries.get((table, key), MISSING)
        if value is MISSING:
            self.misses += 1
        else:
            self.hits += 1
        return value

    def read(self, table: str, key: str, load: Callable[[], T]) -> T:
        """The kept value, or ``load()`` (which reads the database), kept when it may be.

        ``None`` (no such row) is not kept."""
        if self.sync is not None:
            self.sync()
        value = self._entries.get((table, key), MISSING)
        if value is not MISSING:
            return cast(T, value)
        generation = self._generation
        value = load()
        if value is not None:
            with self._lock:
                if self._live and generation == self._generation:
                    if len(self._entries) >= self.capacity:
                        for stale in list(self._entries)[: self.capacity // 4]:  # oldest first
                            del self._entries[stale]
                    self._entries[(table, key)] = value
        return value

    def __len__(self) -> int:
        return len(self._entries)
