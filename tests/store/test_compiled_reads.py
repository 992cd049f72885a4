"""Direct reads (a status poll's cache miss on SQLite): a :class:`CompiledRead` run on the
change feed's own connection returns what the engine returns — every column type, NULLs,
instants to the microsecond, JSON — for imports and service requests; an unknown key is
``None``; a feed that is down, or a read SQLite refuses, says so instead of answering."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    insert,
    select,
)

from hws.domain.clock import FixedClock
from hws.domain.lifecycle import Status
from hws.store import imports
from hws.store import service_requests as srs
from hws.store.compiled_reads import CompiledRead, DirectReadUnavailable
from hws.store.read_cache import ReadCache
from hws.store.sqlite_change_feed import SqliteChangeFeed
from hws.store.types import UTCDateTime
from tests.conftest import enrol, make_service
from tests.store.test_service_requests import NOW, World, application, decision


@pytest.fixture
def world(tmp_path: Path, sqlite_url: str) -> Iterator[World]:
    service = make_service(tmp_path, sqlite_url, clock=FixedClock(NOW.timestamp()), worker_threads=0, scheduler=False)
    yield World(service.engine, enrol(service, office="KR").client_id)
    service.close()


@pytest.fixture
def feed(world: World) -> Iterator[SqliteChangeFeed]:
    running = SqliteChangeFeed(world.engine, ReadCache())
    running.start()
    assert running.state == "live"
    yield running
    running.stop()


def test_an_import_reads_the_same_directly_pending_then_finished(world: World, feed: SqliteChangeFeed) -> None:
    import_id = world.new_import()
    pending = imports.get(world.engine, import_id)
    assert pending is not None and pending.processed_at is None and pending.srn is None
    assert imports.get(feed, import_id) == pending
    later = NOW + timedelta(seconds=1, microseconds=123_457)
    problems = [{"code": "xsd-invalid", "severity": "error", "message": "é ✓", "entry": "a.xml", "path": "/x", "line": 3}]
    with world.engine.begin() as conn:
        imports.finish(conn, import_id, status=imports.REJECTED, now=later, transaction="Application",
                       office_reference=None, problems=problems)  # fmt: skip
    finished = imports.get(world.engine, import_id)
    direct = imports.get(feed, import_id)
    assert direct == finished
    assert direct is not None and direct.processed_at == later and direct.processed_at.tzinfo is UTC
    assert direct.problems == problems and direct.etag == finished.etag  # type: ignore[union-attr]
    assert imports.get(feed, "01UNKNOWN") is None


def test_a_service_request_reads_the_same_directly(world: World, feed: SqliteChangeFeed) -> None:
    created = world.create("970000001", application(designated=("US", "JP")))
    assert srs.get(feed, created.srn) == srs.get(world.engine, created.srn) == created
    moved = NOW + timedelta(days=3, microseconds=1)
    with world.engine.begin() as conn:
        srs.transition(conn, created, to_status=Status.REGISTERED.value, actor="op:test", reason="examined", now=moved,
                       irn="DM/000123", registered_at=moved, expected_publication=date(2027, 2, 5))  # fmt: skip
    through_engine = srs.get(world.engine, created.srn)
    assert through_engine is not None and through_engine.registered_at == moved
    assert srs.get(feed, created.srn) == through_engine
    refusal = world.create("970000002", decision())
    assert srs.get(feed, refusal.srn) == refusal  # NULL dates, a target IRN
    assert srs.get(feed, "970999999") is None


def test_a_stopped_feed_reads_nothing_directly(world: World, feed: SqliteChangeFeed) -> None:
    import_id = world.new_import()
    feed.stop()
    with pytest.raises(DirectReadUnavailable):
        imports.get(feed, import_id)


def test_a_read_sqlite_refuses_is_unavailable_not_an_error(world: World, feed: SqliteChangeFeed) -> None:
    broken = CompiledRead(select(imports.imports).where(imports.imports.c.import_id == bindparam("import_id")))
    broken._compile(feed.dialect)
    broken._sql = "SELECT * FROM no_such_table WHERE x = ?"
    with pytest.raises(DirectReadUnavailable, match="OperationalError"):
        feed.fetch_one(broken, {"import_id": "x"})


# Every column type the cached tables use, against the engine, for any values ----------------

_metadata = MetaData()
_sample = Table(
    "sample",
    _metadata,
    Column("key", String(40), primary_key=True),
    Column("text", String(200), nullable=True),
    Column("big", BigInteger, nullable=True),
    Column("small", Integer, nullable=True),
    Column("at", UTCDateTime, nullable=True),
    Column("day", Date, nullable=True),
    Column("flag", Boolean, nullable=True),
    Column("body", Text, nullable=True),
)
_READ = CompiledRead(select(_sample).where(_sample.c.key == bindparam("key")))


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, sqlite3.Connection]]:
    from hws.store.database import create_db_engine

    path = tmp_path_factory.mktemp("compiled") / "sample.sqlite3"
    engine = create_db_engine(f"sqlite:///{path}")
    _metadata.create_all(engine)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    yield engine, db
    db.close()
    engine.dispose()


_instants = st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC))
_rows = st.fixed_dictionaries({
    "text": st.none() | st.text(max_size=50),
    "big": st.none() | st.integers(min_value=-(2**63), max_value=2**63 - 1),
    "small": st.none() | st.integers(min_value=-(2**31), max_value=2**31 - 1),
    "at": st.none() | _instants,
    "day": st.none() | st.dates(),
    "flag": st.none() | st.booleans(),
    "body": st.none() | st.text(max_size=200),
})  # fmt: skip
_keys = iter(range(10**9))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(row=_rows)
def test_any_row_reads_the_same_directly_as_through_the_engine(
    sample: tuple[Engine, sqlite3.Connection], row: dict[str, object]
) -> None:
    engine, db = sample
    key = f"k{next(_keys)}"
    with engine.begin() as conn:
        conn.execute(insert(_sample), {"key": key, **row})
        expected = conn.execute(select(_sample).where(_sample.c.key == key)).one()
    got = _READ.fetch_one(db, engine.dialect, {"key": key})
    assert tuple(got) == tuple(expected)
    assert got._asdict() == expected._asdict()
    if row["at"] is not None:
        assert got.at == row["at"] and got.at.tzinfo is UTC
    assert _READ.fetch_one(db, engine.dialect, {"key": key + "-missing"}) is None
