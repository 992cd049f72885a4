"""The job queue's gauges on ``/metrics``, in process with the real app and the real queue
(no worker runs: the test puts jobs in each state through :class:`JobQueue` itself, on a
clock that moves only when told).

They are read from the database at each scrape, by the service answering it: two
services in one process each report their own queue; while the database is out the
scrape still answers, with ``hws_job_queue_up 0`` and no queue figures.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from sqlalchemy import event
from starlette.testclient import TestClient

from hws.api.app import create_app
from hws.domain.clock import FixedClock
from hws.service import Service
from hws.store.jobs import JobKind
from tests.conftest import make_service

START = 1_800_000_000.0


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def quiet(tmp_path: Path, sqlite_url: str, clock: FixedClock) -> Iterator[Service]:
    service = make_service(tmp_path, sqlite_url, clock=clock, worker_threads=0)
    yield service
    service.close()


def scrape(service: Service) -> list[Sample]:
    with TestClient(create_app(service), base_url="http://hws.test") as client:
        response = client.get("/metrics")
    assert response.status_code == 200
    return [s for family in text_string_to_metric_families(response.text) for s in family.samples]


def gauges(samples: list[Sample], name: str, *labels: str) -> dict[Any, float]:
    found = {}
    for s in samples:
        if s.name == name:
            key = tuple(s.labels[label] for label in labels)
            found[key[0] if len(key) == 1 else key] = s.value
    return found


def test_depth_by_kind_and_state_oldest_pending_age_and_dead_jobs(quiet: Service, clock: FixedClock) -> None:
    jobs = quiet.jobs
    with quiet.engine.begin() as conn:
        jobs.enqueue(conn, JobKind.IMPORT, "first")
        jobs.enqueue(conn, JobKind.IMPORT, "second")
        jobs.enqueue(conn, JobKind.EXAMINE, "doomed", max_attempts=1)
    clock.advance(30)
    with quiet.engine.begin() as conn:
        jobs.enqueue(conn, JobKind.IMPORT, "third")
    doomed = jobs.claim("test-worker", (JobKind.EXAMINE,))
    assert doomed is not None and jobs.fail(doomed, "RuntimeError: no such request") == "dead"
    leased = jobs.claim("test-worker", (JobKind.IMPORT,))
    assert leased is not None and leased.ref == "first"
    clock.advance(15)

    samples = scrape(quiet)
    assert [s.value for s in samples if s.name == "hws_job_queue_up"] == [1]
    assert gauges(samples, "hws_job_queue_depth", "kind", "state") == {
        ("import", "pending"): 2,
        ("import", "leased"): 1,
        ("import", "dead"): 0,
        ("examine", "pending"): 0,
        ("examine", "leased"): 0,
        ("examine", "dead"): 1,
    }
    # "second" has waited since it was enqueued, 45 s ago; no examine job is pending
    assert gauges(samples, "hws_job_queue_oldest_pending_age_seconds", "kind") == {"import": 45, "examine": 0}
    assert [s.value for s in samples if s.name == "hws_job_queue_dead_jobs"] == [1]


def test_a_job_waiting_for_its_retry_is_pending_but_not_yet_waiting(quiet: Service, clock: FixedClock) -> None:
    with quiet.engine.begin() as conn:
        quiet.jobs.enqueue(conn, JobKind.IMPORT, "flaky")
    job = quiet.jobs.claim("test-worker")
    assert job is not None and quiet.jobs.fail(job, "OSError: try again") == "queued"  # retried after a backoff
    samples = scrape(quiet)
    assert gauges(samples, "hws_job_queue_depth", "kind", "state")[("import", "pending")] == 1
    assert gauges(samples, "hws_job_queue_oldest_pending_age_seconds", "kind")["import"] == 0


def test_each_service_reports_its_own_queue(quiet: Service, tmp_path: Path) -> None:
    other = make_service(tmp_path / "other", f"sqlite:///{tmp_path / 'other.sqlite3'}", worker_threads=0)
    try:
        with quiet.engine.begin() as conn:
            quiet.jobs.enqueue(conn, JobKind.IMPORT, "here")
        assert gauges(scrape(quiet), "hws_job_queue_depth", "kind", "state")[("import", "pending")] == 1
        assert gauges(scrape(other), "hws_job_queue_depth", "kind", "state")[("import", "pending")] == 0
        assert gauges(scrape(quiet), "hws_job_queue_depth", "kind", "state")[("import", "pending")] == 1  # again: no duplicate
    finally:
        other.close()


def test_the_scrape_answers_while_the_database_is_out(quiet: Service) -> None:
    def refuse(*_args: Any) -> None:
        raise sqlite3.OperationalError("unable to open database file (outage simulated by the test)")

    app = create_app(quiet)
    with TestClient(app, base_url="http://hws.test") as client:
        event.listen(quiet.engine, "do_connect", refuse)
        quiet.engine.dispose()
        try:
            response = client.get("/metrics")
        finally:
            event.remove(quiet.engine, "do_connect", refuse)
        assert response.status_code == 200
        samples = [s for family in text_string_to_metric_families(response.text) for s in family.samples]
        assert [s.value for s in samples if s.name == "hws_job_queue_up"] == [0]
        assert not [s for s in samples if s.name.startswith("hws_job_queue_") and s.name != "hws_job_queue_up"]
        assert any(s.name == "hws_http_requests_total" for s in samples)  # the process's own metrics are there
        assert [s.value for s in client_samples(client) if s.name == "hws_job_queue_up"] == [1]  # back


def client_samples(client: TestClient) -> list[Sample]:
    return [s for family in text_string_to_metric_families(client.get("/metrics").text) for s in family.samples]
