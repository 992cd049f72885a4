"""The read cache on SQLite: a read after a commit — by another connection, thread or
process — never answers from memory what that commit changed; the cache is off without
the triggers, empties itself when it fell behind the change log, and goes live again."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from hws.domain.clock import SystemClock
from hws.keys.certificates import read_certificate
from hws.store import migration
from hws.store.clients import ClientRegistry
from hws.store.database import create_db_engine
from hws.store.read_cache import MISSING, ReadCache
from hws.store.sqlite_change_feed import SqliteChangeFeed
from tests.support.certificates import self_signed
from tests.support.jose import new_ec_key


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    created = create_db_engine(f"sqlite:///{tmp_path / 'hws.sqlite3'}")
    migration.upgrade(created)
    yield created
    created.dispose()


def enrol(engine: Engine, office: str = "KR") -> str:
    registry = ClientRegistry(engine, SystemClock())
    client = registry.add(office=office, certificate=read_certificate(self_signed(new_ec_key())), networks=["127.0.0.1/32"])
    return client.client_id


def set_name(database: Path, client_id: str, name: str) -> None:
    """A commit by another process, as ``hws admin`` would make it."""
    code = (
        "import sqlite3, sys\n"
        "db = sqlite3.connect(sys.argv[1])\n"
        "db.execute('UPDATE clients SET name = ? WHERE client_id = ?', (sys.argv[3], sys.argv[2]))\n"
        "db.commit()\n"
    )
    subprocess.run([sys.executable, "-c", code, str(database), client_id, name], check=True, timeout=30)


def test_a_commit_by_another_process_is_seen_by_the_next_read(engine: Engine, tmp_path: Path) -> None:
    client_id = enrol(engine)
    registry = ClientRegistry(engine, SystemClock())
    cache = ReadCache()
    feed = SqliteChangeFeed(engine, cache)
    feed.start()
    try:
        assert feed.state == "live" and cache.live
        first = cache.read("clients", client_id, lambda: registry.get(client_id))
        assert cache.peek("clients", client_id) is first  # kept
        set_name(tmp_path / "hws.sqlite3", client_id, "renamed elsewhere")
        assert cache.peek("clients", client_id) is MISSING  # no delay: the very next read
        again = cache.read("clients", client_id, lambda: registry.get(client_id))
        assert again is not None and again.name == "renamed elsewhere"
    finally:
        feed.stop()
    assert feed.state == "stopped" and not cache.live and cache.sync is None


def test_reads_racing_commits_never_answer_an_older_value(engine: Engine) -> None:
    """A writer commits name 0, 1, 2…; after each commit the reader must see it, while
    other threads keep loading the row into the cache (stale values read just before a
    commit included)."""
    client_id = enrol(engine)
    registry = ClientRegistry(engine, SystemClock())
    cache = ReadCache()
    feed = SqliteChangeFeed(engine, cache)
    feed.start()
    stop = threading.Event()
    reads = [0]

    def hammer() -> None:
        while not stop.is_set():
            cache.read("clients", client_id, lambda: registry.get(client_id))
            reads[0] += 1

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        for n in range(150):
            with engine.begin() as conn:
                conn.execute(text("UPDATE clients SET name = :name WHERE client_id = :id"), {"name": f"v{n}", "id": client_id})
            seen = cache.peek("clients", client_id)  # from memory when a hammer kept it since the commit
            if seen is MISSING:
                seen = cache.read("clients", client_id, lambda: registry.get(client_id))
            assert seen is not None and seen.name == f"v{n}"
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        feed.stop()
    assert reads[0] > 150 and cache.hits > 0


def test_a_reader_behind_the_pruned_log_empties_its_cache(engine: Engine) -> None:
    client_id = enrol(engine)
    other = enrol(engine, "JP")
    cache = ReadCache()
    feed = SqliteChangeFeed(engine, cache)
    feed.start()
    try:
        cache.read("clients", other, lambda: "kept")
        with engine.begin() as conn:  # changes of ``client_id`` only, but the log was pruned past them
            conn.execute(text("UPDATE clients SET name = 'x' WHERE client_id = :id"), {"id": client_id})
            conn.execute(text("UPDATE clients SET name = 'y' WHERE client_id = :id"), {"id": client_id})
            conn.execute(text("DELETE FROM cache_changes WHERE seq = (SELECT min(seq) FROM cache_changes WHERE key = :id "
                              "AND seq > (SELECT max(seq) - 2 FROM cache_changes))"), {"id": client_id})  # fmt: skip
        assert cache.peek("clients", other) is MISSING and len(cache) == 0
    finally:
        feed.stop()


def test_the_log_keeps_the_newest_rows_only(engine: Engine) -> None:
    client_id = enrol(engine)
    with engine.begin() as conn:
        for n in range(10_050):
            conn.execute(text("UPDATE clients SET name = :n WHERE client_id = :id"), {"n": str(n), "id": client_id})
        count, low, high = conn.execute(text("SELECT count(*), min(seq), max(seq) FROM cache_changes")).one()
    assert count == 10_000 and high - low == 9_999


def test_without_the_triggers_the_cache_stays_off(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("DROP TRIGGER hws_cache_imports_update"))
    cache = ReadCache()
    feed = SqliteChangeFeed(engine, cache, off_retry_seconds=3600)
    feed.start()
    try:
        assert feed.state.startswith("off: change-log triggers missing (1 of 12)") and not cache.live
        cache.read("imports", "a", lambda: "row")
        assert len(cache) == 0  # read through, nothing kept
    finally:
        feed.stop()


def test_only_for_a_database_file() -> None:
    with pytest.raises(ValueError, match="database file"):
        SqliteChangeFeed(create_engine("sqlite://"), ReadCache())
