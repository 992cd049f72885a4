"""``JobQueue.backlog`` on SQLite and PostgreSQL: the figures behind the job queue's
metrics (docs/metrics.md), from one grouped query over the jobs not done."""

from __future__ import annotations

from pathlib import Path

import pytest

from hws.domain.clock import FixedClock
from hws.service import Service
from hws.store.jobs import Backlog, JobKind
from tests.conftest import make_service


@pytest.fixture
def quiet(tmp_path: Path, database_url: str):  # type: ignore[no-untyped-def]
    clock = FixedClock(1_800_000_000)
    service = make_service(tmp_path, database_url, clock=clock)
    yield service, clock
    service.close()


def enqueue(service: Service, kind: JobKind, ref: str, max_attempts: int = 3) -> None:
    with service.engine.begin() as conn:
        service.jobs.enqueue(conn, kind, ref, max_attempts=max_attempts)


def test_an_empty_queue(quiet) -> None:  # type: ignore[no-untyped-def]
    service, _ = quiet
    assert service.jobs.backlog() == Backlog({}, {})


def test_counts_by_kind_and_state_and_the_oldest_due_wait(quiet) -> None:  # type: ignore[no-untyped-def]
    service, clock = quiet
    jobs = service.jobs
    enqueue(service, JobKind.IMPORT, "a")
    enqueue(service, JobKind.IMPORT, "b")
    enqueue(service, JobKind.EXAMINE, "x", max_attempts=1)
    clock.advance(20)
    enqueue(service, JobKind.IMPORT, "c")
    enqueue(service, JobKind.EXAMINE, "y")
    dead = jobs.claim("w", (JobKind.EXAMINE,))
    assert dead is not None and dead.ref == "x" and jobs.fail(dead, "boom") == "dead"
    leased = jobs.claim("w", (JobKind.IMPORT,))
    done = jobs.claim("w", (JobKind.IMPORT,))
    assert leased is not None and done is not None and (leased.ref, done.ref) == ("a", "b")
    with service.engine.begin() as conn:
        jobs.complete(conn, done)  # done jobs are not in the backlog
    clock.advance(5)

    backlog = jobs.backlog()
    assert backlog.counts == {
        ("import", "pending"): 1,
        ("import", "leased"): 1,
        ("examine", "pending"): 1,
        ("examine", "dead"): 1,
    }
    assert backlog.oldest_pending_seconds == {"import": 5.0, "examine": 5.0}


def test_a_retry_not_yet_due_has_not_started_waiting(quiet) -> None:  # type: ignore[no-untyped-def]
    service, clock = quiet
    enqueue(service, JobKind.IMPORT, "flaky")
    clock.advance(100)
    job = service.jobs.claim("w")
    assert job is not None and service.jobs.fail(job, "try again") == "queued"  # due again in 2 s
    assert service.jobs.backlog() == Backlog({("import", "pending"): 1}, {"import": 0.0})
    clock.advance(3)
    assert service.jobs.backlog().oldest_pending_seconds == {"import": 1.0}
