"""The sandbox calendar: the base clock plus an offset kept in the database, shared by every
process (each reads it again after a short cache), moving only forward."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import Engine, event, select

from hws.domain.clock import FixedClock
from hws.domain.weeks import Week
from hws.store import sandbox_clock as module
from hws.store.sandbox_clock import CACHE_SECONDS, SandboxClock
from hws.store.tables import sandbox_clock

START = datetime(2026, 12, 31, 18, 0, tzinfo=UTC)  # Thursday of ISO week 2026-W53
DAY = 86_400


CLOCK_AT = START  # the service's clock (tests/store/conftest.py)


@pytest.fixture
def monotonic(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The cache's own clock, moved by the test (``now[0]``)."""
    now = [1000.0]
    monkeypatch.setattr(module, "time", SimpleNamespace(monotonic=lambda: now[0]))
    return now


def test_without_an_offset_it_is_the_base_clock(engine: Engine) -> None:
    base = FixedClock(START.timestamp())
    clock = SandboxClock(engine, base)
    assert clock.offset() == 0
    assert clock.timestamp() == START.timestamp() and clock.now() == START and clock.now().tzinfo is UTC
    base.advance(60)
    assert clock.now() == START + timedelta(minutes=1)  # the base clock still runs


def test_advance_moves_the_calendar_into_the_next_year(both_engines: Engine) -> None:
    base = FixedClock(START.timestamp())
    clock = SandboxClock(both_engines, base)
    assert clock.advance(DAY) == DAY
    assert clock.now() == datetime(2027, 1, 1, 18, 0, tzinfo=UTC)
    assert Week.of(clock.now().date()).id == "202653"  # 1 January 2027 is in 2026's week 53
    assert clock.advance(3 * DAY) == 4 * DAY  # offsets add up
    assert Week.of(clock.now().date()).id == "202701"
    assert clock.advance(0) == 4 * DAY
    with both_engines.connect() as conn:
        row = conn.execute(select(sandbox_clock)).one()
    assert (row.id, row.offset_seconds) == (1, 4 * DAY)
    assert row.updated_at == START  # stamped by the base clock, not the moved calendar


def test_it_never_moves_backward(engine: Engine) -> None:
    clock = SandboxClock(engine, FixedClock(START.timestamp()))
    clock.advance(DAY)
    with pytest.raises(ValueError, match="only moves forward"):
        clock.advance(-1)
    assert clock.offset(fresh=True) == DAY
    with pytest.raises(ValueError, match="only moves forward"):
        SandboxClock(engine, FixedClock(START.timestamp())).advance(-DAY)
    with engine.connect() as conn:
        assert conn.execute(select(sandbox_clock.c.offset_seconds)).scalar_one() == DAY


def test_every_clock_on_the_database_sees_the_offset_after_its_cache(engine: Engine, monotonic: list[float]) -> None:
    here = SandboxClock(engine, FixedClock(START.timestamp()))
    there = SandboxClock(engine, FixedClock(START.timestamp()))  # another process
    assert there.offset() == 0
    assert here.advance(7 * DAY) == 7 * DAY  # the one that advanced reads it at once
    monotonic[0] += CACHE_SECONDS / 2
    assert there.offset() == 0 and there.now() == START  # still cached
    assert there.offset(fresh=True) == 7 * DAY  # unless asked fresh
    here.advance(DAY)
    monotonic[0] += CACHE_SECONDS + 0.01
    assert there.now() == START + timedelta(days=8)


def test_the_cache_is_read_once_per_period(engine: Engine, monotonic: list[float]) -> None:
    clock = SandboxClock(engine, FixedClock(START.timestamp()))
    reads: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if "sandbox_clock" in statement:
            reads.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        for _ in range(5):
            clock.now()
        assert len(reads) == 1
        monotonic[0] += CACHE_SECONDS + 0.01
        clock.timestamp()
        assert len(reads) == 2
    finally:
        event.remove(engine, "before_cursor_execute", count)
