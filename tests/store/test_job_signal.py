"""Job runners are woken when a job is queued, not at their next poll: in the process that
queued it (after its transaction commits, never for a rolled-back one), and on PostgreSQL
in other processes (``NOTIFY hws_jobs``). The runners here poll every 30 s (the longest
the settings allow) and each test waits far less than that for what only a wake-up can
explain, with a generous bound; nothing here measures time."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from hws.api.app import create_app
from hws.service import Service
from hws.st96.examples import example_package
from hws.store import imports as import_store
from hws.store.job_signal import JobListener
from hws.store.jobs import JobKind
from hws.worker.runner import WorkerPool
from tests.api.test_requests import API, bearer, submit
from tests.conftest import enrol, make_service

SLOW_POLL = 30.0  # seconds; a wake-up is what makes the jobs below run in time
WAIT = 20.0  # the tests' bound for what a wake-up does at once


@pytest.fixture
def service(tmp_path: Path, database_url: str) -> Iterator[Service]:
    made = make_service(tmp_path / "a", database_url, worker_threads=0, worker_poll_interval=SLOW_POLL)
    yield made
    made.close()


def test_the_signal_rings_after_the_commit_and_never_for_a_rollback(service: Service) -> None:
    signal = service.jobs.signal
    seen = signal.generation
    with pytest.raises(RuntimeError), service.engine.begin() as conn:
        service.jobs.enqueue(conn, JobKind.IMPORT, "rolled-back")
        raise RuntimeError("the transaction fails")
    assert signal.generation == seen  # nothing queued: nobody woken

    claimed: list[object] = []

    def runner() -> None:
        if signal.wait(seen, WAIT):
            claimed.append(service.jobs.claim("runner"))  # at once: the ring comes after the commit

    waiting = threading.Thread(target=runner)
    waiting.start()
    with service.engine.begin() as conn:
        service.jobs.enqueue(conn, JobKind.IMPORT, "committed")
    waiting.join(WAIT + 5)
    assert len(claimed) == 1 and getattr(claimed[0], "ref", None) == "committed"
    assert signal.generation == seen + 1


def test_a_submission_is_imported_without_waiting_for_the_poll(tmp_path: Path, database_url: str) -> None:
    """The embedded default: the API and its runner threads share a process."""
    service = make_service(tmp_path, database_url, worker_threads=1, worker_poll_interval=SLOW_POLL)
    pool = WorkerPool(service, 1)
    try:
        with TestClient(
            create_app(service, background=[pool]), base_url="http://hws.test", client=("127.0.0.1", 50000)
        ) as client:
            headers = bearer(client, enrol(service, office="KR"))
            # the runner is idle now, in its 30 s wait
            package = example_package("application", office="KR")
            import_id = submit(client, headers, package, Accept="application/json").json()["import_id"]
            done = threading.Event()

            def imported() -> None:
                while not done.wait(0.05):
                    record = import_store.get(service.engine, import_id)
                    if record is not None and record.status != import_store.PENDING:
                        done.set()

            watcher = threading.Thread(target=imported, daemon=True)
            watcher.start()
            assert done.wait(WAIT), "the idle runner was not woken by the submission"
            assert (
                client.get(f"{API}/request/import/{import_id}", headers={**headers, "Accept": "application/json"}).json()[
                    "status"
                ]
                == "Imported"
            )
    finally:
        service.close()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_another_process_hears_of_the_job_on_postgresql(tmp_path: Path, database_url: str, service: Service) -> None:
    """Service ``other`` stands for a ``hws worker`` process: its own engine and signal,
    woken by its listener only."""
    other = make_service(tmp_path / "b", database_url, worker_threads=0, worker_poll_interval=SLOW_POLL)
    listener = JobListener(other.engine, other.jobs.signal)
    listener.start()
    try:
        heard = threading.Event()
        start = other.jobs.signal.generation
        listening = threading.Thread(target=lambda: heard.set() if other.jobs.signal.wait(start, WAIT) else None)
        listening.start()
        listening.join(WAIT + 5)
        assert heard.is_set() and listener.state == "listening"  # it rings once on (re)connecting

        seen = other.jobs.signal.generation
        with pytest.raises(RuntimeError), service.engine.begin() as conn:
            service.jobs.enqueue(conn, JobKind.IMPORT, "rolled-back")
            raise RuntimeError("the transaction fails")
        with service.engine.begin() as conn:
            service.jobs.enqueue(conn, JobKind.IMPORT, "committed")
        assert other.jobs.signal.wait(seen, WAIT)
        job = other.jobs.claim("other-process")
        assert job is not None and job.ref == "committed"
        # notifications arrive in commit order: had the rolled-back one been sent, it would have rung first
        assert other.jobs.signal.generation == seen + 1
    finally:
        listener.stop()
        other.close()
