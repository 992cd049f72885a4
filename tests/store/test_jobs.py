"""The job queue on SQLite and PostgreSQL: leases, retakes, guarded completion, retries."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from hws.domain.clock import FixedClock
from hws.store.jobs import DEAD, DONE, QUEUED, RUNNING, JobKind, JobQueue, LeaseLost, lease_commit
from tests.conftest import make_service


@pytest.fixture
def queue(tmp_path: Path, database_url: str):  # type: ignore[no-untyped-def]
    clock = FixedClock(1_800_000_000)
    service = make_service(tmp_path, database_url, clock=clock)
    yield service, JobQueue(service.engine, clock, lease_seconds=10), clock
    service.close()


def add(service, clock, ref: str = "r", max_attempts: int = 3) -> int:  # type: ignore[no-untyped-def]
    with service.engine.begin() as conn:
        return JobQueue(service.engine, clock, lease_seconds=10).enqueue(conn, JobKind.IMPORT, ref, max_attempts=max_attempts)


def test_claim_complete(queue) -> None:  # type: ignore[no-untyped-def]
    service, jobs, clock = queue
    job_id = add(service, clock)
    job = jobs.claim("w1")
    assert job is not None and job.id == job_id and job.attempts == 1 and job.lease_owner == "w1"
    assert jobs.claim("w2") is None  # leased
    with service.engine.begin() as conn:
        jobs.complete(conn, job)
    assert jobs.counts() == {DONE: 1}


def test_expired_lease_is_retaken_and_the_first_worker_cannot_complete(queue) -> None:  # type: ignore[no-untyped-def]
    service, jobs, clock = queue
    add(service, clock)
    first = jobs.claim("w1")
    clock.advance(11)
    second = jobs.claim("w2")
    assert second is not None and second.id == first.id and second.attempts == 2
    with pytest.raises(LeaseLost), service.engine.begin() as conn:
        jobs.complete(conn, first)
    with pytest.raises(LeaseLost):
        jobs.extend(first)
    with service.engine.begin() as conn:
        jobs.complete(conn, second)
    assert jobs.counts() == {DONE: 1}


def test_heartbeat_keeps_the_lease(queue) -> None:  # type: ignore[no-untyped-def]
    service, jobs, clock = queue
    add(service, clock)
    job = jobs.claim("w1")
    for _ in range(3):
        clock.advance(8)
        jobs.extend(job)
        assert jobs.claim("w2") is None


def test_failures_back_off_then_die(queue) -> None:  # type: ignore[no-untyped-def]
    service, jobs, clock = queue
    add(service, clock, max_attempts=2)
    job = jobs.claim("w1")
    assert jobs.fail(job, "boom") == QUEUED
    assert jobs.claim("w1") is None  # backing off
    clock.advance(3)
    job = jobs.claim("w1")
    assert job is not None and job.attempts == 2
    assert jobs.fail(job, "boom again") == DEAD
    clock.advance(1000)
    assert jobs.claim("w1") is None
    dead = jobs.list(status=DEAD)
    assert len(dead) == 1 and "boom again" in (dead[0].last_error or "")
    assert jobs.retry(dead[0].id)
    assert jobs.claim("w1") is not None


def test_concurrent_claims_take_each_job_once(queue) -> None:  # type: ignore[no-untyped-def]
    service, jobs, clock = queue
    for i in range(40):
        add(service, clock, ref=f"r{i}")

    def drain(name: str) -> list[str]:
        taken = []
        while (job := jobs.claim(name)) is not None:
            with service.engine.begin() as conn:
                jobs.complete(conn, job)
            taken.append(job.ref)
        return taken

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(drain, ["a", "b", "c", "d"]))
    refs = [ref for taken in results for ref in taken]
    assert sorted(refs) == sorted(f"r{i}" for i in range(40))
    assert jobs.counts() == {DONE: 40}
    assert RUNNING not in jobs.counts()


def _flush_setting(conn) -> str:  # type: ignore[no-untyped-def]
    if conn.dialect.name == "sqlite":
        return str(conn.exec_driver_sql("PRAGMA synchronous").scalar())  # 1 NORMAL, 2 FULL
    return str(conn.exec_driver_sql("SHOW synchronous_commit").scalar())


def test_a_lease_commits_without_a_flush_and_every_other_commit_flushes(queue) -> None:  # type: ignore[no-untyped-def]
    """Taking or renewing a lease is the one commit that does not wait for the disk (lost in
    a power cut, the job is only run again); the connection goes back to the pool flushing."""
    service, _jobs, _clock = queue
    relaxed, durable = ("1", "2") if service.engine.dialect.name == "sqlite" else ("off", "on")
    with service.engine.connect() as conn:
        assert _flush_setting(conn) == durable
        conn.rollback()
        with lease_commit(conn):
            assert _flush_setting(conn) == relaxed
        assert _flush_setting(conn) == durable
        conn.rollback()
        with pytest.raises(RuntimeError), lease_commit(conn):
            raise RuntimeError("the claim failed")
        assert _flush_setting(conn) == durable
        conn.rollback()
    for _ in range(3):  # whichever pooled connection comes next
        with service.engine.begin() as conn:
            assert _flush_setting(conn) == durable
