"""Gap-free sequences: each name starts at its ``start`` and counts up by one, a rolled-back
allocation is given again, and concurrent allocations never share a number."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine

from hws.store.counters import next_value


def allocate(engine: Engine, name: str, start: int) -> int:
    with engine.begin() as conn:
        return next_value(conn, name, start)


def test_a_sequence_starts_at_start_and_counts_up(both_engines: Engine) -> None:
    assert [allocate(both_engines, "srn", 970_000_001) for _ in range(3)] == [970_000_001, 970_000_002, 970_000_003]
    assert allocate(both_engines, "irn", 1) == 1  # names are independent
    assert allocate(both_engines, "srn", 970_000_001) == 970_000_004
    assert allocate(both_engines, "irn", 1) == 2


def test_start_matters_only_for_the_first_number(engine: Engine) -> None:
    assert allocate(engine, "s", 10) == 10
    assert allocate(engine, "s", 500) == 11  # the sequence exists: start is ignored
    assert allocate(engine, "zero", 0) == 0
    assert allocate(engine, "zero", 0) == 1


def test_a_rolled_back_allocation_leaves_no_gap(both_engines: Engine) -> None:
    assert allocate(both_engines, "srn", 1) == 1
    with pytest.raises(RuntimeError), both_engines.begin() as conn:
        assert next_value(conn, "srn", 1) == 2
        raise RuntimeError("the import failed after taking its number")
    assert allocate(both_engines, "srn", 1) == 2
    with pytest.raises(RuntimeError), both_engines.begin() as conn:
        assert next_value(conn, "fresh", 100) == 100
        raise RuntimeError("the sequence's first row rolls back too")
    assert allocate(both_engines, "fresh", 100) == 100


def test_several_numbers_in_one_transaction(engine: Engine) -> None:
    with engine.begin() as conn:
        assert [next_value(conn, "srn", 5) for _ in range(4)] == [5, 6, 7, 8]


def test_concurrent_allocations_never_share_a_number(both_engines: Engine) -> None:
    with ThreadPoolExecutor(4) as pool:
        numbers = list(pool.map(lambda _: allocate(both_engines, "srn", 1), range(40)))
    assert sorted(numbers) == list(range(1, 41))
