"""The commit doorbell shared by the job queue and the event outbox: rung after a marked
transaction commits, not after a rollback, and each kind only by its own marks."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from hws.store.events import EventSignal
from hws.store.job_signal import JobSignal


def test_each_kind_rings_after_its_own_commits_only(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    jobs, events = JobSignal(), EventSignal()
    jobs.watch(engine)
    events.watch(engine)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
    assert (jobs.generation, events.generation) == (0, 0)  # nothing marked

    with engine.begin() as conn:
        EventSignal.mark(conn)
        conn.execute(text("INSERT INTO t VALUES (1)"))
        assert events.generation == 0  # not before the commit
    assert (jobs.generation, events.generation) == (0, 1)

    with pytest.raises(RuntimeError), engine.begin() as conn:
        jobs.ring_after_commit(conn)
        raise RuntimeError("rolled back")
    assert jobs.generation == 0  # a rolled-back transaction rings nothing
    with engine.begin() as conn:  # and its mark does not leak into the next transaction
        conn.execute(text("INSERT INTO t VALUES (2)"))
    assert (jobs.generation, events.generation) == (0, 1)

    with engine.begin() as conn:
        jobs.ring_after_commit(conn)
    assert (jobs.generation, events.generation) == (1, 1)
    assert events.wait(0, 0.01) and not events.wait(1, 0.01)
