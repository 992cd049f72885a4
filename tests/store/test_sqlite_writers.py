"""This process's writers to a SQLite file queue on one lock, held from ``BEGIN IMMEDIATE``
until after ``COMMIT`` / ``ROLLBACK``, instead of meeting in SQLite's sleeping busy handler."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine

from hws.store import sqlite_writers
from hws.store.database import create_db_engine, read_only
from hws.store.sqlite_writers import WriterConnection, writer_lock


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'w.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)")
        conn.exec_driver_sql("INSERT INTO t VALUES (1, 0)")
    yield engine
    engine.dispose()


def _lock(engine: Engine) -> threading.Lock:
    assert engine.url.database
    return writer_lock(engine.url.database)


def test_the_lock_is_held_from_begin_until_after_commit(engine: Engine) -> None:
    lock = _lock(engine)
    with engine.begin() as conn:
        assert isinstance(conn.connection.dbapi_connection, WriterConnection)
        assert lock.locked()
        conn.exec_driver_sql("UPDATE t SET n = n + 1")
        assert conn.connection.dbapi_connection.in_transaction
    assert not lock.locked()
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT n FROM t").scalar() == 1


def test_the_lock_is_released_after_a_rollback_and_after_an_error(engine: Engine) -> None:
    lock = _lock(engine)
    with pytest.raises(RuntimeError), engine.begin() as conn:
        conn.exec_driver_sql("UPDATE t SET n = 99")
        raise RuntimeError("boom")
    assert not lock.locked()
    with engine.connect() as conn:
        trans = conn.begin()
        assert lock.locked()
        trans.rollback()
        assert not lock.locked()
        assert conn.exec_driver_sql("SELECT n FROM t").scalar() == 0
    with pytest.raises(Exception, match="no such table"), engine.begin() as conn:
        conn.exec_driver_sql("UPDATE missing SET n = 1")
    assert not lock.locked()


def test_reads_do_not_take_the_lock(engine: Engine) -> None:
    lock = _lock(engine)
    with read_only(engine).begin() as conn:
        assert not lock.locked()
        assert conn.exec_driver_sql("SELECT n FROM t").scalar() == 0


def test_closing_a_connection_mid_transaction_releases_it(engine: Engine) -> None:
    lock = _lock(engine)
    conn = engine.connect()
    conn.begin()
    conn.exec_driver_sql("UPDATE t SET n = 5")
    assert lock.locked()
    conn.invalidate()  # the driver connection is closed: SQLite rolls back
    conn.close()
    assert not lock.locked()
    with engine.connect() as check:
        assert check.exec_driver_sql("SELECT n FROM t").scalar() == 0


def test_concurrent_writers_all_commit_in_turn(engine: Engine) -> None:
    """Threads increment one row many times each: every increment is kept (each waited
    for the last writer's commit, none failed as "database is locked") and no two
    writers were ever inside a transaction at once."""
    inside, most, guard = 0, 0, threading.Lock()
    errors: list[BaseException] = []

    def work() -> None:
        nonlocal inside, most
        try:
            for _ in range(40):
                with engine.begin() as conn:
                    with guard:
                        inside += 1
                        most = max(most, inside)
                    conn.exec_driver_sql("UPDATE t SET n = n + 1")
                    with guard:
                        inside -= 1
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert most == 1
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT n FROM t").scalar() == 240
    assert not _lock(engine).locked()


def test_a_writer_that_cannot_have_the_lock_falls_back_to_sqlites_locking(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lock held elsewhere in the process without a transaction (a mistake): a writer
    gives up on it after the busy timeout and lets SQLite arbitrate — it commits, and
    does not release a lock it never had."""
    monkeypatch.setattr(sqlite_writers, "BUSY_SECONDS", 0.05)
    lock = _lock(engine)
    assert lock.acquire(timeout=1)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("UPDATE t SET n = 7")
        assert lock.locked()  # still the holder's
    finally:
        lock.release()
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT n FROM t").scalar() == 7


def test_a_writer_of_another_process_meets_sqlites_own_locking(engine: Engine, tmp_path: Path) -> None:
    """A connection this lock does not know (as another process's would be) holding the
    write lock: the engine's writer waits in SQLite's busy handler and commits after it."""
    other = sqlite3.connect(tmp_path / "w.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("UPDATE t SET n = 1")
    done = threading.Event()

    def write() -> None:
        with engine.begin() as conn:
            conn.exec_driver_sql("UPDATE t SET n = n + 10")
        done.set()

    thread = threading.Thread(target=write)
    thread.start()
    assert not done.wait(0.3)  # waiting for the other connection's transaction
    other.execute("COMMIT")
    other.close()
    thread.join(10)
    assert done.is_set()
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT n FROM t").scalar() == 11


def test_one_lock_per_database_file(tmp_path: Path) -> None:
    assert writer_lock(str(tmp_path / "a.db")) is writer_lock(str(tmp_path / "a.db"))
    assert writer_lock(str(tmp_path / "a.db")) is not writer_lock(str(tmp_path / "b.db"))
    memory = sqlite3.connect(":memory:", factory=WriterConnection, isolation_level=None)
    memory.begin_immediate()  # a private database: no lock to take
    memory.execute("CREATE TABLE x (a)")
    memory.commit()
    memory.close()
