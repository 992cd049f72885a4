"""The read cache's rules: kept only while live, never a value read across an eviction."""

from __future__ import annotations

import threading

from hypothesis import given, settings
from hypothesis import strategies as st

from hws.store.read_cache import MISSING, ReadCache


def counting(value):  # type: ignore[no-untyped-def]
    calls = []

    def load():  # type: ignore[no-untyped-def]
        calls.append(1)
        return value

    return load, calls


def test_not_live_reads_through_and_keeps_nothing() -> None:
    cache = ReadCache()
    load, calls = counting("row")
    assert cache.read("imports", "a", load) == "row"
    assert cache.read("imports", "a", load) == "row"
    assert len(calls) == 2 and len(cache) == 0 and cache.peek("imports", "a") is MISSING


def test_live_keeps_and_answers_without_loading() -> None:
    cache = ReadCache()
    cache.set_live(True)
    load, calls = counting("row")
    assert cache.read("imports", "a", load) == "row"
    assert cache.read("imports", "a", load) == "row"
    assert cache.peek("imports", "a") == "row"
    assert len(calls) == 1


def test_no_such_row_is_not_kept() -> None:
    cache = ReadCache()
    cache.set_live(True)
    load, calls = counting(None)
    assert cache.read("imports", "a", load) is None
    assert cache.read("imports", "a", load) is None
    assert len(calls) == 2


def test_eviction_removes_the_entry_only() -> None:
    cache = ReadCache()
    cache.set_live(True)
    cache.read("imports", "a", lambda: 1)
    cache.read("imports", "b", lambda: 2)
    cache.evict("imports", "a")
    assert cache.peek("imports", "a") is MISSING and cache.peek("imports", "b") == 2


def test_a_value_read_while_an_eviction_happens_is_not_kept() -> None:
    """The race the generation guards against: read old, change committed and announced,
    then the old value would be stored after its eviction."""
    cache = ReadCache()
    cache.set_live(True)

    def load_then_change_announced() -> str:
        cache.evict("imports", "a")  # the notification arrives while the old row is in hand
        return "old"

    assert cache.read("imports", "a", load_then_change_announced) == "old"
    assert cache.peek("imports", "a") is MISSING
    assert cache.read("imports", "a", lambda: "new") == "new"
    assert cache.peek("imports", "a") == "new"


def test_going_down_while_reading_keeps_nothing() -> None:
    cache = ReadCache()
    cache.set_live(True)

    def load() -> str:
        cache.set_live(False)
        cache.set_live(True)  # down and up again while reading: the value may predate a missed change
        return "old"

    cache.read("clients", "c", load)
    assert cache.peek("clients", "c") is MISSING


def test_set_live_false_and_clear_empty_everything() -> None:
    cache = ReadCache()
    cache.set_live(True)
    cache.read("clients", "c", lambda: 1)
    cache.clear()
    assert len(cache) == 0 and cache.live
    cache.read("clients", "c", lambda: 1)
    cache.set_live(False)
    assert len(cache) == 0 and not cache.live


def test_capacity_is_bounded() -> None:
    cache = ReadCache(capacity=100)
    cache.set_live(True)
    for n in range(1000):
        cache.read("imports", str(n), lambda n=n: n)
    assert len(cache) <= 100
    assert cache.peek("imports", "999") == 999  # the newest stay


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["read", "evict", "write", "down", "up"]), st.sampled_from("abc")), max_size=40))
def test_never_answers_a_value_older_than_the_last_announced_change(ops) -> None:  # type: ignore[no-untyped-def]
    """Model: a database of versions; every write is announced (evict) unless the feed is
    down, in which case the cache is off. A read never returns an outdated version."""
    cache = ReadCache()
    database = {k: 0 for k in "abc"}
    live = False
    for op, key in ops:
        if op == "write":
            database[key] += 1
            if live:
                cache.evict("t", key)
        elif op == "evict":
            cache.evict("t", key)
        elif op == "down":
            live = False
            cache.set_live(False)
        elif op == "up":
            live = True
            cache.set_live(True)
        else:
            assert cache.read("t", key, lambda key=key: database[key]) == database[key]


def test_concurrent_readers_and_evictions() -> None:
    cache = ReadCache()
    cache.set_live(True)
    version = {"v": 0}
    lock = threading.Lock()
    stop = threading.Event()
    errors: list[str] = []

    def writer() -> None:
        while not stop.is_set():
            with lock:
                version["v"] += 1
            cache.evict("t", "k")  # announced after the commit, as NOTIFY is

    def reader() -> None:
        for _ in range(5000):
            with lock:
                floor = version["v"]  # everything committed and announced before the read began
            seen = cache.read("t", "k", lambda: version["v"])
            if seen < floor - 1:  # at most the change being announced right now may be missed
                errors.append(f"{seen} < {floor}")

    threads = [threading.Thread(target=writer)] + [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads[1:]:
        t.join()
    stop.set()
    threads[0].join()
    assert not errors, errors[:5]
