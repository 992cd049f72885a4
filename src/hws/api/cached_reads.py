"""Reads through the service's read cache (:mod:`hws.store.read_cache`), from the event
loop: a kept value is answered at once; anything else is read from the database in a
worker thread (and kept when it may be)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar, cast

from starlette.concurrency import run_in_threadpool

from hws.service import Service
from hws.store.read_cache import MISSING

T = TypeVar("T")


async def read_through(service: Service, table: str, key: str, load: Callable[[], T]) -> T:
    """``load()`` (blocking: it reads the database) unless the cache holds ``table:key``."""
    cache = service.read_cache
    if cache is None:
        return await run_in_threadpool(load)
    value = cache.peek(table, key)
    if value is not MISSING:
        return cast(T, value)
    return await run_in_threadpool(cache.read, table, key, load)
