"""The change feed keeps a read cache coherent with PostgreSQL (real server, real NOTIFY)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text

from hws.keys.certificates import read_certificate
from hws.service import Service
from hws.store import migration
from hws.store.change_feed import APPLICATION_NAME, ChangeFeed, _writes_cached_rows
from hws.store.read_cache import MISSING, ReadCache
from hws.store.sqlite_change_feed import SqliteChangeFeed
from tests.conftest import enrol, make_service
from tests.support.certificates import self_signed
from tests.support.databases import fresh_postgres_database
from tests.support.jose import new_ec_key
from tests.support.servers import until


class RecordingCache(ReadCache):
    def __init__(self) -> None:
        super().__init__()
        self.transitions: list[bool] = []

    def set_live(self, live: bool) -> None:
        self.transitions.append(live)
        super().set_live(live)


@pytest.fixture
def two_processes(tmp_path: Path) -> Iterator[tuple[Service, Service]]:
    """Two services on one fresh PostgreSQL database: ``here`` with the cache, ``other``
    standing for another process (its own engine and pool)."""
    with fresh_postgres_database() as url:
        here = make_service(tmp_path / "here", url, read_cache=False)
        other = make_service(tmp_path / "other", url, read_cache=False)
        yield here, other
        here.close()
        other.close()


def start_feed(service: Service, **options: float) -> tuple[ChangeFeed, RecordingCache]:
    cache = RecordingCache()
    feed = ChangeFeed(service.engine, cache, **options)
    feed.start()
    until(lambda: cache.live, timeout=10, what="the change feed to go live")
    return feed, cache


def cached_client(service: Service, cache: ReadCache, client_id: str):  # type: ignore[no-untyped-def]
    return cache.read("clients", client_id, lambda: service.registry.get(client_id))


def test_changes_by_another_process_evict(two_processes) -> None:  # type: ignore[no-untyped-def]
    here, other = two_processes
    feed, cache = start_feed(here)
    try:
        office = enrol(other)
        assert cached_client(here, cache, office.client_id).active
        keep(here, cache, office.client_id)
        other.registry.set_active(office.client_id, False)  # committed by the other "process"
        until(lambda: cache.peek("clients", office.client_id) is MISSING, timeout=5, what="the eviction")
        assert cached_client(here, cache, office.client_id).active is False
        # a key added to the client (client_keys) evicts the client too
        other.registry.add_key(office.client_id, read_certificate(self_signed(new_ec_key())))
        until(lambda: cache.peek("clients", office.client_id) is MISSING, timeout=5, what="the eviction by a key change")
    finally:
        feed.stop()
    assert feed.state == "stopped" and not cache.live


def keep(service: Service, cache: ReadCache, client_id: str) -> None:
    def kept() -> bool:  # not kept while the insert's own notification may still be on its way
        cached_client(service, cache, client_id)
        return cache.peek("clients", client_id) is not MISSING

    until(kept, timeout=5, what="the client to be kept")


def test_own_writes_are_read_at_once_and_evict_only_what_changed(two_processes) -> None:  # type: ignore[no-untyped-def]
    here, _other = two_processes
    feed, cache = start_feed(here)
    try:
        changed, untouched = enrol(here), enrol(here)
        keep(here, cache, changed.client_id)
        keep(here, cache, untouched.client_id)
        here.registry.set_active(changed.client_id, False)
        # no waiting here: the call returned only once its own eviction was applied
        assert cache.peek("clients", changed.client_id) is MISSING
        assert cache.peek("clients", untouched.client_id) is not MISSING
        assert cached_client(here, cache, changed.client_id).active is False
        assert not feed._expected  # every marker heard and forgotten
    finally:
        feed.stop()


def test_own_writes_without_the_feed_empty_the_cache(two_processes) -> None:  # type: ignore[no-untyped-def]
    here, other = two_processes
    cache = ReadCache()
    feed = ChangeFeed(here.engine, cache, sync_timeout=0.2)
    feed._watch_local_writes()  # nothing listens: a marker is never heard
    cache.set_live(True)
    first, second = enrol(here), enrol(here)
    cached_client(here, cache, first.client_id)
    cached_client(here, cache, second.client_id)
    assert cache.peek("clients", first.client_id) is not MISSING
    other.registry.set_active(first.client_id, False)  # another process: unheard without the feed
    assert cache.peek("clients", first.client_id) is not MISSING
    here.registry.set_active(second.client_id, False)  # this process: marker not heard → everything goes
    assert len(cache) == 0
    assert cached_client(here, cache, first.client_id).active is False
    here.audit.log("operator", "test.read", outcome="ok")
    here.audit.flush()  # a commit that writes no cached table leaves the cache alone
    assert cache.peek("clients", first.client_id) is not MISSING


def test_lost_connection_turns_the_cache_off_until_it_listens_again(two_processes) -> None:  # type: ignore[no-untyped-def]
    here, other = two_processes
    feed, cache = start_feed(here, retry_seconds=0.5)
    try:
        office = enrol(other)
        until(lambda: cached_client(here, cache, office.client_id) and cache.peek("clients", office.client_id) is not MISSING,
              timeout=5, what="the client to be kept")  # fmt: skip
        with other.engine.connect() as conn:
            killed = conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :name"),
                {"name": APPLICATION_NAME},
            ).all()
        assert killed
        until(lambda: cache.transitions[-2:] == [False, True], timeout=15, what="the feed to go down and come back")
        assert cache.peek("clients", office.client_id) is MISSING  # nothing from before the loss survives
        assert feed.state == "live"
    finally:
        feed.stop()


def test_without_the_triggers_the_cache_never_goes_live(two_processes) -> None:  # type: ignore[no-untyped-def]
    here, _other = two_processes
    migration.downgrade(here.engine, "0004")
    cache = RecordingCache()
    feed = ChangeFeed(here.engine, cache)
    feed.start()
    try:
        until(lambda: feed.state.startswith("off"), timeout=10, what="the feed to give up")
        assert "hws admin db upgrade" in feed.state and not cache.live and True not in cache.transitions
        cache.read("clients", "x", lambda: "value")
        assert len(cache) == 0
    finally:
        feed.stop()


def test_triggers_announce_every_watched_table(two_processes) -> None:  # type: ignore[no-untyped-def]
    here, other = two_processes
    args, kwargs = here.engine.dialect.create_connect_args(here.engine.url)
    with psycopg.connect(*args, **kwargs, autocommit=True) as listener:
        listener.execute("LISTEN hws_changes")
        office = enrol(other)
        other.registry.set_active(office.client_id, False)
        payloads = {n.payload for n in listener.notifies(timeout=2.0, stop_after=3)}
    assert f"clients:{office.client_id}" in payloads


def test_write_detection() -> None:
    assert _writes_cached_rows("UPDATE imports SET status=%(status)s WHERE imports.import_id = %(id)s")
    assert _writes_cached_rows("  insert into service_requests (srn) values (%s)")
    assert _writes_cached_rows("DELETE FROM client_keys WHERE client_keys.kid = %(kid)s")
    assert not _writes_cached_rows("SELECT imports.status FROM imports")
    assert not _writes_cached_rows("INSERT INTO audit_events (actor) VALUES (%s)")
    assert not _writes_cached_rows("UPDATE jobs SET lease_until = %s")


def test_sqlite_has_its_own_feed(tmp_path: Path, sqlite_url: str) -> None:
    """SQLite keeps the cache with a change log (tests/store/test_sqlite_change_feed.py),
    not with notifications; HWS_READ_CACHE=false turns it off."""
    service = make_service(tmp_path, sqlite_url)
    try:
        assert isinstance(service.change_feed, SqliteChangeFeed) and service.read_cache is service.change_feed.cache
        with pytest.raises(ValueError):
            ChangeFeed(service.engine, ReadCache())
    finally:
        service.close()
    off = make_service(tmp_path / "off", sqlite_url, read_cache=False)
    try:
        assert off.read_cache is None and off.change_feed is None
    finally:
        off.close()
