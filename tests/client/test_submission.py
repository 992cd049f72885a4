"""Submitting, reading statuses and waiting, on both twins, against the in-memory HWS."""

from __future__ import annotations

import hashlib
import os
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from hws.client import APIError, HWSError
from hws.client.errors import ImportTimeout
from hws.client.statuses import ImportState, PackageProblem, RequestState
from hws.client.upload import CHUNK
from hws.st96.api_documents import PackageProblem as ServerProblem
from hws.st96.api_documents import ProblemItem, RequestStatusView
from tests.client.conftest import Twin, call
from tests.client.fake_hws import API, RECEIVED, Answer, content_digest, imported, pending, problem


@pytest.fixture
def package(tmp_path: Path) -> Path:
    """Big enough to need several chunks (the fake does not look inside)."""
    path = tmp_path / "package.zip"
    path.write_bytes(os.urandom(3 * CHUNK + 1234))
    return path


# --------------------------------------------------------------------------- submit


def test_submit_streams_the_file_with_its_digest(twin: Twin, package: Path) -> None:
    seen: list[tuple[int, int]] = []

    async def scenario(client):  # type: ignore[no-untyped-def]
        return await call(client.submit(package, idempotency_key="kr-2025-0001", progress=lambda s, t: seen.append((s, t))))

    status = twin.run(scenario)
    data = package.read_bytes()
    [upload] = twin.fake.uploads
    assert upload.body == data
    assert upload.chunks == 4 and upload.stream_type != "ByteStream"  # streamed, not read into one buffer
    assert upload.headers["content-digest"] == content_digest(data)
    assert upload.headers["content-type"] == "application/zip"
    assert upload.headers["content-length"] == str(len(data))
    assert "transfer-encoding" not in upload.headers
    assert upload.headers["idempotency-key"] == "kr-2025-0001"
    assert upload.headers["authorization"] == "Bearer token-1"
    assert seen[0] == (0, len(data)) and seen[-1] == (len(data), len(data))
    assert [s for s, _ in seen] == sorted(s for s, _ in seen) and len(seen) == 5
    assert status.status is ImportState.PENDING and not status.finished
    assert status.import_id == "imp-1"
    assert status.package_sha256 == hashlib.sha256(data).hexdigest() and status.package_size == len(data)
    assert status.received_at == RECEIVED and status.received_at.tzinfo is not None
    assert status.retry_after == 3.0
    assert status.location == f"{API}/request/import/imp-1"  # a path Location made absolute


def test_submit_without_idempotency_key_sends_none(twin: Twin, package: Path) -> None:
    twin.run(lambda client: call(client.submit(str(package))))
    assert "idempotency-key" not in twin.fake.uploads[0].headers


def test_submit_rejects_a_bad_idempotency_key(twin: Twin, package: Path) -> None:
    with pytest.raises(ValueError, match="idempotency key"):
        twin.run(lambda client: call(client.submit(package, idempotency_key="clé\n")))
    assert twin.fake.uploads == []


def test_submit_retries_once_on_401_with_a_fresh_body(twin: Twin, package: Path) -> None:
    twin.fake.stale_tokens.add("token-1")
    status = twin.run(lambda client: call(client.submit(package)))
    first, second = twin.fake.uploads  # the 401 answered after the whole body was read
    assert first.body == second.body == package.read_bytes()
    assert second.headers["authorization"] == "Bearer token-2"
    assert status.import_id == "imp-2"


def test_submit_detects_that_the_service_stored_other_bytes(twin: Twin, package: Path) -> None:
    twin.fake.store_other_bytes = True
    with pytest.raises(HWSError, match="other bytes"):
        twin.run(lambda client: call(client.submit(package)))


def test_submit_detects_a_file_changed_while_sending(twin: Twin, package: Path) -> None:
    def grow(sent: int, total: int) -> None:
        if sent == CHUNK:
            with package.open("ab") as fh:
                fh.write(b"more")

    with pytest.raises(HWSError, match="changed while"):
        twin.run(lambda client: call(client.submit(package, progress=grow)))


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (413, "payload-too-large"),
        (415, "unsupported-media-type"),
        (400, "digest-mismatch"),
        (422, "idempotency-key-reused"),
        (403, "insufficient-scope"),
    ],
)
def test_submit_reports_problems(twin: Twin, package: Path, status: int, code: str) -> None:
    twin.fake.submit_answers.append(problem(status, code, "the server's words"))
    with pytest.raises(APIError) as info:
        twin.run(lambda client: call(client.submit(package)))
    assert info.value.status == status and info.value.code == code and info.value.detail == "the server's words"


def test_submit_missing_file(twin: Twin, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        twin.run(lambda client: call(client.submit(tmp_path / "nope.zip")))


# --------------------------------------------------------------------------- statuses


def test_rejected_import_lists_every_problem(twin: Twin) -> None:
    view = replace(
        pending("imp-9"),
        status="Rejected",
        processed_at=RECEIVED + timedelta(seconds=4),
        problems=(
            ServerProblem("xml-missing", "error", "the package holds no XML file"),
            ServerProblem("xsd-invalid", "error", "Element 'x': not expected.", "app.xml", "/dgn:A/dgn:B[2]", 17),
            ServerProblem("xsd-not-installed", "warning", "structural rules only", "app.xml"),
        ),
    )
    twin.fake.gets["/request/import/imp-9"] = [Answer(view)]
    status = twin.run(lambda client: call(client.import_status("imp-9")))
    assert status.status is ImportState.REJECTED and status.rejected and status.finished and status.srn is None
    assert status.processed_at == datetime(2025, 3, 7, 9, 30, 4, tzinfo=UTC)
    assert status.problems == (
        PackageProblem("xml-missing", "error", "the package holds no XML file"),
        PackageProblem("xsd-invalid", "error", "Element 'x': not expected.", "app.xml", "/dgn:A/dgn:B[2]", 17),
        PackageProblem("xsd-not-installed", "warning", "structural rules only", "app.xml"),
    )
    assert status.problems[1].where == "app.xml, line 17, /dgn:A/dgn:B[2]"
    assert status.to_dict()["problems"][1]["line"] == 17 and status.to_dict()["status"] == "Rejected"


def test_imported_and_request_status(twin: Twin) -> None:
    twin.fake.gets["/request/import/imp-1"] = [Answer(imported(pending(), office_reference="KR-REF-1"))]
    view = RequestStatusView(
        "imp-1", "970000001", "Pending Regularization", "HagueApplication", "KR",
        datetime(2025, 3, 8, 12, 0, tzinfo=UTC), "KR-REF-1", "DM/123456", date(2026, 3, 20), date(2025, 6, 8),
    )  # fmt: skip
    twin.fake.gets["/request/970000001"] = [Answer(view)]

    async def scenario(client):  # type: ignore[no-untyped-def]
        return await call(client.import_status("imp-1")), await call(client.request_status("970000001"))

    done, request = twin.run(scenario)
    assert done.imported and done.srn == "970000001" and done.transaction == "HagueApplication"
    assert done.office_reference == "KR-REF-1"
    assert request.status is RequestState.PENDING_REGULARIZATION
    assert (request.import_id, request.srn, request.office, request.irn) == ("imp-1", "970000001", "KR", "DM/123456")
    assert request.expected_publication == date(2026, 3, 20) and request.regularization_deadline == date(2025, 6, 8)
    assert request.last_change == datetime(2025, 3, 8, 12, 0, tzinfo=UTC)
    assert request.to_dict()["status"] == "Pending Regularization"


def test_ids_are_quoted_into_the_path(twin: Twin) -> None:
    with pytest.raises(APIError) as info:
        twin.run(lambda client: call(client.import_status("../admin?x")))
    assert info.value.status == 404
    assert str(twin.fake.api_requests("GET")[-1].url) == f"{API}/request/import/..%2Fadmin%3Fx"


def test_unknown_import_is_an_api_error(twin: Twin) -> None:
    with pytest.raises(APIError) as info:
        twin.run(lambda client: call(client.request_status("970000042")))
    assert info.value.status == 404 and info.value.code == "not-found"


def test_status_calls_retry_once_on_401(twin: Twin) -> None:
    twin.fake.gets["/request/import/imp-1"] = [Answer(pending())]

    async def scenario(client):  # type: ignore[no-untyped-def]
        await call(client.token())
        twin.fake.stale_tokens.add("token-1")
        return await call(client.import_status("imp-1"))

    assert twin.run(scenario).import_id == "imp-1"
    assert [r.headers["authorization"] for r in twin.fake.api_requests()] == ["Bearer token-1", "Bearer token-2"]


# --------------------------------------------------------------------------- conditional requests


def test_304_returns_the_cached_result(twin: Twin) -> None:
    path = "/request/import/imp-1"
    twin.fake.gets[path] = [
        Answer(pending(), etag='"v1"', headers={"Retry-After": "2"}),
        Answer(pending(), etag='"v1"', headers={"Retry-After": "7"}),  # answered 304 to If-None-Match "v1"
        Answer(imported(pending()), etag='"v2"'),
    ]

    async def scenario(client):  # type: ignore[no-untyped-def]
        return [await call(client.import_status("imp-1")) for _ in range(3)]

    first, second, third = twin.run(scenario)
    sent = [r.headers.get("if-none-match") for r in twin.fake.api_requests("GET")]
    assert sent == [None, '"v1"', '"v1"']
    assert second == first and second.retry_after == 7.0 and first.retry_after == 2.0
    assert third.imported


def test_304_for_request_status(twin: Twin) -> None:
    view = RequestStatusView("imp-1", "970000001", "Processing", "HagueApplication", "KR", RECEIVED)
    twin.fake.gets["/request/970000001"] = [Answer(view, etag='W/"a"')]

    async def scenario(client):  # type: ignore[no-untyped-def]
        return await call(client.request_status("970000001")), await call(client.request_status("970000001"))

    first, second = twin.run(scenario)
    assert first == second and first.status is RequestState.PROCESSING
    assert [r.headers.get("if-none-match") for r in twin.fake.api_requests("GET")] == [None, 'W/"a"']


def test_no_etag_no_condition(twin: Twin) -> None:
    twin.fake.gets["/request/import/imp-1"] = [Answer(pending())]

    async def scenario(client):  # type: ignore[no-untyped-def]
        await call(client.import_status("imp-1"))
        await call(client.import_status("imp-1"))

    twin.run(scenario)
    assert all("if-none-match" not in r.headers for r in twin.fake.api_requests("GET"))


# --------------------------------------------------------------------------- waiting


def test_wait_backs_off_and_honours_retry_after(twin: Twin) -> None:
    path = "/request/import/imp-1"
    twin.fake.gets[path] = [
        Answer(pending(), headers={"Retry-After": "5"}),
        Answer(pending(), headers={"Retry-After": "1"}),
        Answer(pending()),
        Answer(pending()),
        Answer(pending()),
        Answer(imported(pending())),
    ]
    status = twin.run(lambda client: call(client.wait_for_import("imp-1", timeout=100, poll=1, max_poll=4)))
    assert status.imported and status.srn == "970000001"
    # max(backoff, Retry-After): 5 (server) · 2 · 4 · 4 (cap) · 4
    assert twin.clock.sleeps == [5, 2, 4, 4, 4]
    assert len(twin.fake.api_requests("GET")) == 6


def test_wait_returns_a_rejection_at_once(twin: Twin) -> None:
    twin.fake.gets["/request/import/imp-1"] = [Answer(replace(pending(), status="Rejected", processed_at=RECEIVED))]
    status = twin.run(lambda client: call(client.wait_for_import("imp-1")))
    assert status.rejected and twin.clock.sleeps == []


def test_wait_times_out_with_a_clear_error(twin: Twin) -> None:
    twin.fake.gets["/request/import/imp-1"] = [Answer(pending(), headers={"Retry-After": "10"})]
    with pytest.raises(ImportTimeout) as info:
        twin.run(lambda client: call(client.wait_for_import("imp-1", timeout=25, poll=1)))
    assert twin.clock.sleeps == [10, 10, 5]  # never past the deadline; one last look at it
    assert info.value.import_id == "imp-1" and info.value.last is not None and info.value.last.status is ImportState.PENDING
    assert "still pending after 25 s" in str(info.value) and "hws import-status imp-1" in str(info.value)


def test_wait_polls_through_transient_failures(twin: Twin) -> None:
    twin.fake.gets["/request/import/imp-1"] = [
        problem(503, "unavailable", Retry_After="1"),
        problem(429, "rate-limited"),
        Answer(imported(pending())),
    ]
    status = twin.run(lambda client: call(client.wait_for_import("imp-1", poll=0.5)))
    assert status.imported and twin.clock.sleeps == [0.5, 1.0]


def test_wait_gives_up_on_a_real_error(twin: Twin) -> None:
    twin.fake.gets["/request/import/imp-1"] = [problem(404, "not-found")]
    with pytest.raises(APIError) as info:
        twin.run(lambda client: call(client.wait_for_import("imp-1")))
    assert info.value.status == 404 and twin.clock.sleeps == []


def test_wait_timeout_names_the_last_failure(twin: Twin) -> None:
    twin.fake.gets["/request/import/imp-1"] = [problem(503, "unavailable")]
    with pytest.raises(ImportTimeout) as info:
        twin.run(lambda client: call(client.wait_for_import("imp-1", timeout=3, poll=1)))
    assert info.value.last is None and isinstance(info.value.error, APIError)
    assert "status unknown" in str(info.value) and "503 unavailable" in str(info.value)


def test_problem_entries_survive(twin: Twin, package: Path) -> None:
    twin.fake.submit_answers.append(
        problem(400, "invalid-request", "bad body", (ProblemItem("multipart", "two files", "/file[2]"),))
    )
    with pytest.raises(APIError) as info:
        twin.run(lambda client: call(client.submit(package)))
    assert [(e.code, e.detail, e.pointer) for e in info.value.errors] == [("multipart", "two files", "/file[2]")]
