"""Operator metrics on ``/metrics`` of the real server (issue 11, item 7).

One sandbox server (automatic examination, movable calendar, scheduler) walks the life
cycle once: an examining office is enrolled, a valid application is imported, examined
and registered, a package without XML is rejected, the week is published. Its ``/metrics``
is then read as Prometheus reads it: import outcomes and rejection codes, service request
transitions, the job queue's gauges read from the database, tokens issued per client,
publication build time and size — and no access token anywhere in it. The Grafana
dashboard (docs/grafana-dashboard.json) names only metrics that scrape shows.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from hws.domain.weeks import Schedule, Week
from hws.st96.examples import example_package
from tests.support.servers import SANDBOX, RunningServer, start_server, until

#: one worker runs the module: its module-scoped fixture is set up once, not once per worker
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("operator-metrics")]

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana-dashboard.json"


@dataclass
class Scrape:
    text: str
    samples: list[Sample]
    tokens: list[str]
    kr_client_id: str
    us_client_id: str
    srn: str

    def value(self, name: str, **labels: str) -> float:
        return value(self.samples, name, **labels)

    def names(self) -> set[str]:
        return {s.name for s in self.samples}


def value(samples: list[Sample], name: str, **labels: str) -> float:
    """The sum of the samples ``name`` whose labels include ``labels`` (0 if none)."""
    return sum(s.value for s in samples if s.name == name and labels.items() <= s.labels.items())


def scrape(server: RunningServer) -> tuple[str, list[Sample]]:
    response = httpx.get(f"{server.url}/metrics", timeout=30)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    families = list(text_string_to_metric_families(response.text))
    return response.text, [sample for family in families for sample in family.samples]


#: what :func:`package_without_xml` is rejected for
REJECTION_CODES = ["file-not-png", "package-no-xml"]


def package_without_xml() -> bytes:
    """A ZIP holding no XML, only a ``.png`` that is not a PNG image."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("images/0001.png", b"\x89PNG\r\n\x1a\n")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def walked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scrape]:
    tmp_path = tmp_path_factory.mktemp("operator-metrics")
    server = start_server(tmp_path / "server", extra_env=SANDBOX)
    try:
        kr, us = server.enrol("KR"), server.enrol("US", "--examining")
        tokens = [kr.token(), us.token()]
        valid, rejected = tmp_path / "valid.zip", tmp_path / "rejected.zip"
        valid.write_bytes(
            example_package("application", office="KR", office_reference="KR-MET-1", deferment=None, immediate_publication=True)
        )
        rejected.write_bytes(package_without_xml())
        imported = kr.wait_for_import(kr.submit(valid).import_id, timeout=60)
        refused = kr.wait_for_import(kr.submit(rejected).import_id, timeout=60)
        assert imported.imported and imported.srn, imported.problems
        assert refused.rejected and sorted(p.code for p in refused.problems) == REJECTION_CODES, refused.problems
        registered = until(lambda: (s := kr.request_status(imported.srn)).expected_publication and s, what="registration")
        assert registered.status == "Registered"

        # the sandbox calendar passes the week's publication moment: the scheduler publishes it
        week = Week.of(registered.expected_publication)
        now = datetime.fromisoformat(json.loads(server.hws("admin", "clock", "show", "--json").stdout)["now"])
        server.hws("admin", "clock", "advance", f"{int((Schedule().moment(week) - now).total_seconds()) + 60}s")
        until(lambda: [p for p in us.list_bulletins() if p.week == week.id], what="the bulletin")
        until(us.list_confidential, what="the confidential copy (the week of the registration, before the bulletin's)")
        tokens += [kr.token(), us.token()]

        # A counter moves just after its transaction commits, and the examination job is
        # completed just after the registration: wait until both imports are counted and
        # the queue is idle (no timing assumed).
        def settled() -> tuple[str, list[Sample]] | None:
            text, samples = scrape(server)
            busy = value(samples, "hws_job_queue_depth", state="pending") + value(samples, "hws_job_queue_depth", state="leased")
            return None if busy or value(samples, "hws_imports_total") < 2 else (text, samples)

        text, samples = until(settled, what="an idle job queue")
        yield Scrape(text, samples, tokens, kr.client_id, us.client_id, imported.srn)
        kr.close()
        us.close()
    finally:
        server.stop()


def test_imports_by_outcome_and_rejection_code(walked: Scrape) -> None:
    assert walked.value("hws_imports_total", outcome="imported") == 1
    assert walked.value("hws_imports_total", outcome="rejected") == 1
    codes = {s.labels["code"]: s.value for s in walked.samples if s.name == "hws_import_rejections_total"}
    assert codes == dict.fromkeys(REJECTION_CODES, 1)  # one rejected import, each of its codes once


def test_service_request_transitions(walked: Scrape) -> None:
    transitions = {
        (s.labels["from"], s.labels["to"]): s.value for s in walked.samples if s.name == "hws_service_request_transitions_total"
    }
    # opened by the import, taken up, registered by the automatic examination
    assert transitions == {("none", "Undefined"): 1, ("Undefined", "Processing"): 1, ("Processing", "Registered"): 1}


def test_job_queue_gauges_from_the_database(walked: Scrape) -> None:
    assert walked.value("hws_job_queue_up") == 1
    depth = {(s.labels["kind"], s.labels["state"]): s.value for s in walked.samples if s.name == "hws_job_queue_depth"}
    # every known kind and state is reported, at 0 when none: the import and examination jobs are done
    assert depth == {(kind, state): 0 for kind in ("examine", "import") for state in ("pending", "leased", "dead")}
    oldest = {s.labels["kind"]: s.value for s in walked.samples if s.name == "hws_job_queue_oldest_pending_age_seconds"}
    assert oldest == {"examine": 0, "import": 0}
    assert walked.value("hws_job_queue_dead_jobs") == 0


def test_tokens_issued_by_client_and_no_token_in_the_metrics(walked: Scrape) -> None:
    issued = {s.labels["client_id"]: s.value for s in walked.samples if s.name == "hws_tokens_issued_total"}
    assert set(issued) == {walked.kr_client_id, walked.us_client_id}
    assert all(n >= 1 for n in issued.values())
    assert walked.value("hws_token_requests_total", outcome="issued") == sum(issued.values())
    for token in walked.tokens:
        assert token not in walked.text and token.split(".")[2] not in walked.text


def test_publication_build_time_and_size(walked: Scrape) -> None:
    for kind in ("bulletin", "confidential"):
        assert walked.value("hws_publication_build_seconds_count", kind=kind) >= 1
        assert walked.value("hws_publication_size_bytes_count", kind=kind) >= 1
        assert walked.value("hws_publication_size_bytes_sum", kind=kind) > 1000  # a ZIP with images


def promql_metric_names(expression: str) -> set[str]:
    """The metric names an expression reads: identifiers of ours (``hws_…``), outside
    label matchers."""
    without_matchers = re.sub(r"\{[^}]*\}", "", expression)
    return set(re.findall(r"\bhws_[a-zA-Z0-9_]+", without_matchers))


def dashboard_expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", []) if "expr" in target]


def test_the_grafana_dashboard_reads_metrics_the_server_exports(walked: Scrape) -> None:
    expressions = dashboard_expressions()
    assert expressions
    used = set().union(*(promql_metric_names(e) for e in expressions))
    assert used - walked.names() == set()
    operator_metrics = {
        "hws_job_queue_depth",
        "hws_job_queue_oldest_pending_age_seconds",
        "hws_job_queue_dead_jobs",
        "hws_imports_total",
        "hws_import_rejections_total",
        "hws_service_request_transitions_total",
        "hws_publication_build_seconds_bucket",
        "hws_publication_size_bytes_sum",
        "hws_tokens_issued_total",
    }
    assert operator_metrics <= used


def test_the_name_reader_sees_names_outside_matchers_only() -> None:
    assert promql_metric_names('sum by (le) (rate(hws_a_bucket{kind="hws_b"}[5m])) / hws_c') == {"hws_a_bucket", "hws_c"}


@pytest.mark.slow
def test_serve_workers_n_sums_the_counters_of_every_process(tmp_path: Path) -> None:
    """``hws serve --workers 2``: whichever process answers the scrape, the counters are
    those of both (multiprocess mode) and the queue gauges are read once, not summed."""
    server = start_server(tmp_path / "server", extra_env=SANDBOX, serve_args=("--workers", "2"), ready_timeout=90)
    try:
        kr = server.enrol("KR")
        token = kr.token()
        packages = {
            "valid": example_package("application", office="KR", office_reference="KR-MET-N"),
            "rejected": package_without_xml(),
        }
        for name, data in packages.items():
            (tmp_path / f"{name}.zip").write_bytes(data)
        statuses = [kr.wait_for_import(kr.submit(tmp_path / f"{name}.zip").import_id, timeout=60) for name in packages]
        assert [s.status for s in statuses] == ["Imported", "Rejected"]

        # counted just after their transactions commit, in whichever process ran the job
        def counted() -> bool:
            samples = scrape(server)[1]
            return value(samples, "hws_imports_total") == 2 and bool(
                value(samples, "hws_service_request_transitions_total", to="Registered")
            )

        until(counted, what="both imports and the registration counted")
        for _ in range(6):  # several scrapes: both processes answer some
            text, samples = scrape(server)
            assert value(samples, "hws_imports_total", outcome="imported") == 1
            assert value(samples, "hws_imports_total", outcome="rejected") == 1
            assert value(samples, "hws_import_rejections_total", code="package-no-xml") == 1
            assert value(samples, "hws_service_request_transitions_total", to="Registered") == 1
            assert value(samples, "hws_tokens_issued_total", client_id=kr.client_id) == 1
            assert value(samples, "hws_job_queue_up") == 1
            assert [s.value for s in samples if s.name == "hws_job_queue_dead_jobs"] == [0]
            assert token not in text
        kr.close()
    finally:
        server.stop()
