"""``hws worker --metrics-port``: a worker process beside the API serves the counters of
the jobs it runs, which the API processes' ``/metrics`` cannot show (issue 11, item 7).

The real server runs without worker threads (``HWS_WORKER_THREADS=0``); one ``hws
worker`` process imports and examines. Its metrics endpoint counts the import and the
transitions; the API's ``/metrics`` counts none of them, but its job queue gauges (read
from the database) see the queue the worker emptied.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from hws.st96.examples import example_package
from tests.support.servers import SANDBOX, RunningServer, free_port, start_server, until

pytestmark = pytest.mark.e2e


def samples_at(url: str) -> list[Sample] | None:
    try:
        response = httpx.get(url, timeout=5)
    except httpx.HTTPError:
        return None
    assert response.status_code == 200
    return [s for family in text_string_to_metric_families(response.text) for s in family.samples]


def value(samples: list[Sample], name: str, **labels: str) -> float:
    return sum(s.value for s in samples if s.name == name and labels.items() <= s.labels.items())


@pytest.fixture
def api_without_workers(tmp_path: Path) -> Iterator[RunningServer]:
    server = start_server(tmp_path / "server", extra_env={**SANDBOX, "HWS_WORKER_THREADS": "0"})
    yield server
    server.stop()


def test_a_worker_process_serves_the_counters_of_its_jobs(api_without_workers: RunningServer, tmp_path: Path) -> None:
    server = api_without_workers
    port = free_port()
    log = tmp_path / "worker.log"
    with open(log, "wb") as stderr:
        worker = subprocess.Popen(
            [sys.executable, "-m", "hws", "worker", "--metrics-port", str(port)],
            env=server.env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        metrics_url = f"http://127.0.0.1:{port}/metrics"
        until(lambda: samples_at(metrics_url) is not None, what="the worker's metrics endpoint")
        kr = server.enrol("KR")
        package = tmp_path / "valid.zip"
        package.write_bytes(example_package("application", office="KR", office_reference="KR-WORKER-METRICS"))
        done = kr.wait_for_import(kr.submit(package).import_id, timeout=60)
        assert done.imported and done.srn, done.problems
        until(lambda: kr.request_status(done.srn).status == "Registered", what="registration by the worker")

        def counted() -> list[Sample] | None:
            found = samples_at(metrics_url)
            return found if found and value(found, "hws_service_request_transitions_total", to="Registered") else None

        at_worker = until(counted, what="the worker's counters")
        assert value(at_worker, "hws_imports_total", outcome="imported") == 1
        assert value(at_worker, "hws_service_request_transitions_total", **{"from": "none", "to": "Undefined"}) == 1
        assert not [s for s in at_worker if s.name.startswith("hws_job_queue_")]  # the API's, from the database

        at_api = samples_at(f"{server.url}/metrics")
        assert at_api is not None
        assert value(at_api, "hws_imports_total") == 0  # this process ran no job
        assert value(at_api, "hws_job_queue_up") == 1
        assert value(at_api, "hws_job_queue_depth", state="dead") == 0
        kr.close()
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0, log.read_text()[-2000:]
