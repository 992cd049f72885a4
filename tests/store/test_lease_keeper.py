"""The job runner's lease keeper: one thread renews the lease of the job being run, job
after job; it stops renewing a job once it is released or its lease was lost, and ends
after a quiet interval (a new job starts it again)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from hws.store.jobs import Job, LeaseLost
from hws.worker.runner import LeaseKeeper

INTERVAL = 0.03


class Queue:
    """Records every renewal; ``lost`` names jobs whose lease another worker took."""

    def __init__(self) -> None:
        self.extended: list[int] = []
        self.lost: set[int] = set()

    def extend(self, job: Job) -> None:
        if job.id in self.lost:
            raise LeaseLost(job.id)
        self.extended.append(job.id)


def job(job_id: int) -> Job:
    return Job(job_id, "import", f"ref-{job_id}", "running", 1, 5, "me", None)


def eventually(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "condition not met in time"
        time.sleep(0.005)


def ended(keeper: LeaseKeeper, thread: threading.Thread | None) -> Callable[[], bool]:
    """The keeper's own thread has ended (other tests' keepers may still run)."""
    return lambda: thread is not None and not thread.is_alive() and keeper._thread is not thread


def test_the_held_job_is_renewed_until_released_then_the_thread_ends() -> None:
    queue = Queue()
    keeper = LeaseKeeper(queue, INTERVAL)  # type: ignore[arg-type]
    first = job(1)
    keeper.hold(first)
    thread = keeper._thread
    eventually(lambda: queue.extended.count(1) >= 3)
    keeper.release(first)
    eventually(ended(keeper, thread))
    renewed = len(queue.extended)
    time.sleep(INTERVAL * 3)
    assert len(queue.extended) == renewed  # nothing renewed once released


def test_one_thread_serves_job_after_job(monkeypatch: pytest.MonkeyPatch) -> None:
    queue = Queue()
    keeper = LeaseKeeper(queue, 0.5)  # type: ignore[arg-type]  # long: no quick job is due before its end
    started = 0
    real_start = threading.Thread.start

    def counting(thread: threading.Thread) -> None:
        nonlocal started
        started += getattr(thread, "_target", None) == keeper._run
        real_start(thread)

    monkeypatch.setattr(threading.Thread, "start", counting)
    for n in range(1, 21):  # quick jobs back to back, as in a burst
        current = job(n)
        keeper.hold(current)
        keeper.release(current)
    slow = job(99)
    keeper.hold(slow)
    thread = keeper._thread
    eventually(lambda: 99 in queue.extended)
    keeper.release(slow)
    monkeypatch.undo()
    assert started == 1
    assert set(queue.extended) == {99}  # the quick jobs ended before their renewal was due
    eventually(ended(keeper, thread))


def test_a_lost_lease_is_not_renewed_again_and_the_next_job_is() -> None:
    queue = Queue()
    queue.lost.add(7)
    keeper = LeaseKeeper(queue, INTERVAL)  # type: ignore[arg-type]
    lost = job(7)
    keeper.hold(lost)
    thread = keeper._thread
    eventually(ended(keeper, thread))  # it gave the job up, then ended when quiet
    keeper.release(lost)
    after = job(8)
    keeper.hold(after)
    thread = keeper._thread
    eventually(lambda: 8 in queue.extended)
    keeper.release(after)
    assert 7 not in queue.extended
    eventually(ended(keeper, thread))
