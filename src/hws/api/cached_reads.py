"""Reads through the service's read cache (:mod:`hws.store.read_cache`), from the event
loop: a kept value is answered at once; anything else is read from the database — on
SQLite directly on the change feed's own connection (a point read takes microseconds:
no worker thread, no engine), elsewhere in a worker thread — and kept when it may be."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar, cast

from starlette.concurrency import run_in_threadpool

from hws.service import Service
from hws.store.compiled_reads import DirectReader, DirectReadUnavailable
from hws.store.read_cache import MISSING
from hws.store.sqlite_change_feed import SqliteChangeFeed

T = TypeVar("T")


async def read_through(
    service: Service,
    table: str,
    key: str,
    load: Callable[[], T],
    direct: Callable[[DirectReader], T] | None = None,
) -> T:
    """``load()`` (blocking: it reads the database) unless the cache holds ``table:key``;
    on a miss, ``direct(reader)`` when the database is SQLite and its feed is up."""
    cache = service.read_cache
    if cache is None:
        return await run_in_threadpool(load)
    value = cache.peek(table, key)
    if value is not MISSING:
        return cast(T, value)
    feed = service.change_feed
    if direct is not None and isinstance(feed, SqliteChangeFeed):
        try:
            return cache.read(table, key, lambda: direct(feed))
        except DirectReadUnavailable:
            pass  # the feed is down or SQLite refused: through the engine, in a thread
    return await run_in_threadpool(cache.read, table, key, load)
