"""One reader per API document, beside the service's writer (``hws.st96.api_documents``):
what the service writes, the office kit reads back the same, with the service's own
definitions (states, transaction kinds, the views themselves) and ZIP checks."""

from __future__ import annotations

import asyncio
import zipfile
from dataclasses import asdict, fields
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest

from hws.client import APIError, AsyncHagueClient, UnexpectedResponse, UnsafeArchive
from hws.client.downloads import extract_zip, parse_publication_list
from hws.client.hague import PingResult, _parse_ping, problem_from
from hws.client.statuses import (
    ImportState,
    RequestState,
    RequestStatus,
    TransactionKind,
    parse_import_status,
    parse_request_status,
)
from hws.domain.lifecycle import Status
from hws.st96 import safexml
from hws.st96.api_documents import (
    ImportStatusView,
    PackageProblem,
    PingView,
    ProblemItem,
    ProblemView,
    PublicationView,
    RequestStatusView,
    import_status,
    ping_response,
    problem_document,
    publication_list,
    read_ping_response,
    read_problem_document,
    read_request_status,
    request_status,
    schema,
)
from hws.st96.zipsafe import ZipLimits
from tests.client.fake_hws import ISSUER
from tests.support.jose import new_ec_key

WHEN = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


# --------------------------------------------------------------------------- statuses


@pytest.mark.parametrize("status", list(Status))
def test_a_request_status_round_trips_through_the_shared_reader(status: Status) -> None:
    view = RequestStatusView("01J00000000000000000000000", "970000123", status, "HagueRefusalRequest", "KR", WHEN,
                             office_reference="ref", irn="DM/200001", expected_publication=date(2027, 5, 21),
                             regularization_deadline=date(2027, 1, 20))  # fmt: skip
    document = request_status(view)  # the service's writer
    schema("hws-api-v1.xsd").assertValid(safexml.parse(document))
    assert read_request_status(document) == view  # the one reader
    client = parse_request_status(document)  # the kit, through that reader
    assert isinstance(client, RequestStatus) and isinstance(client, RequestStatusView)
    assert client.status is status and isinstance(client.status, RequestState)
    assert [f.name for f in fields(client)] == [f.name for f in fields(RequestStatusView)]
    assert {f.name: getattr(client, f.name) for f in fields(client)} == asdict(view)
    assert request_status(client) == document  # the kit's status is the service's view: it writes back the same
    assert client.transaction_kind is TransactionKind.REFUSAL
    assert client.to_dict()["status"] == status.value


def test_an_import_status_round_trips_with_the_services_states() -> None:
    problems = (PackageProblem("xsd-invalid", "error", "not expected", "app.xml", "/dgn:A", 17),)
    view = ImportStatusView("01J00000000000000000000000", ImportState.REJECTED, WHEN, 10, "ab" * 32, processed_at=WHEN,
                            transaction="HagueApplication", problems=problems)  # fmt: skip
    status = parse_import_status(import_status(view))
    assert status.status is ImportState.REJECTED and status.rejected and status.finished
    assert status.transaction_kind is TransactionKind.APPLICATION
    assert [(p.code, p.entry, p.xml_path, p.line) for p in status.problems] == [("xsd-invalid", "app.xml", "/dgn:A", 17)]


def test_a_transaction_the_service_does_not_know_is_kept_as_text() -> None:
    document = request_status(RequestStatusView("i", "970000001", Status.PROCESSING, "SomethingNew", "KR", WHEN))
    status = parse_request_status(document)
    assert status.transaction == "SomethingNew" and status.transaction_kind is None


def test_a_publication_list_round_trips_through_the_shared_reader() -> None:
    item = PublicationView("202647", "2026/47", date(2026, 11, 20), 10, "cd" * 32, 3, 1, WHEN, "https://x/202647")
    [publication] = parse_publication_list(publication_list("confidential", [item], office="US"))
    assert (publication.kind, publication.office) == ("confidential", "US")
    assert {f.name: getattr(publication, f.name) for f in fields(PublicationView)} == asdict(item)


# --------------------------------------------------------------------------- ping and problems


def test_a_ping_round_trips_through_the_shared_reader() -> None:
    document = ping_response("Hello  KR ", "kr-test", "KR", WHEN)
    schema("hws-api-v1.xsd").assertValid(safexml.parse(document))
    assert read_ping_response(document) == PingView("Hello  KR ", "kr-test", "KR", "2026-11-20T12:00:00Z")
    response = httpx.Response(200, content=document)
    assert _parse_ping(response) == PingResult("Hello  KR ", "kr-test", "KR", "2026-11-20T12:00:00Z")


@pytest.mark.parametrize(
    "document",
    [b"hello", b'<PingResponse xmlns="urn:hws:xml:api:v1"><Message>hi</Message></PingResponse>'],
)
def test_a_ping_the_kit_cannot_read_is_an_unexpected_response(document: bytes) -> None:
    with pytest.raises(UnexpectedResponse, match="hws:PingResponse"):
        _parse_ping(httpx.Response(200, content=document))


def test_the_async_twin_reads_the_ping_with_the_same_reader() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/openid-configuration"):
            return httpx.Response(200, json={"token_endpoint": f"{ISSUER}/access_token"})
        if request.url.path.endswith("/access_token"):
            return httpx.Response(200, json={"access_token": "t", "expires_in": 3600})
        return httpx.Response(200, content=b"<not-a-ping/>")

    async def main() -> None:
        options = {"issuer": ISSUER, "client_id": "kr-test", "private_key": new_ec_key()}
        async with AsyncHagueClient(http=httpx.AsyncClient(transport=httpx.MockTransport(handler)), **options) as client:
            await client.ping()

    with pytest.raises(UnexpectedResponse, match="expected hws:PingResponse"):
        asyncio.run(main())


@pytest.mark.parametrize(
    ("detail", "errors"),
    [
        (None, ()),
        ("the server's words", (ProblemItem("xsd-invalid", "not expected", "/dgn:A"), ProblemItem("zip-empty", "empty"))),
        ("", ()),
    ],
)
def test_a_problem_round_trips_through_the_shared_reader(detail: str | None, errors: tuple[ProblemItem, ...]) -> None:
    document = problem_document(type_uri="urn:hws:problem:x", title="Refused", status=422, code="package-invalid",
                                detail=detail, instance="/request", errors=errors)  # fmt: skip
    schema("problem-rfc9457.xsd").assertValid(safexml.parse(document))
    assert read_problem_document(document) == ProblemView(
        "urn:hws:problem:x", "Refused", 422, "package-invalid", detail, "/request", errors
    )
    error = problem_from(httpx.Response(422, content=document, headers={"Content-Type": "application/problem+xml"}))
    assert (error.status, error.code, error.title, error.detail) == (422, "package-invalid", "Refused", detail or "")
    assert [(e.code, e.detail, e.pointer) for e in error.errors] == [(e.code, e.detail, e.pointer) for e in errors]


def test_an_xml_answer_that_is_no_problem_reads_as_an_http_error() -> None:
    response = httpx.Response(502, content=b"<html><body>Bad gateway</body></html>", headers={"Content-Type": "text/xml"})
    error = problem_from(response)
    assert isinstance(error, APIError) and (error.status, error.code) == (502, "http-error")
    assert "Bad gateway" in error.detail


# --------------------------------------------------------------------------- extraction: zipsafe's checks


def _archive(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


def test_extraction_counts_the_entries_with_zipsafe_before_reading_them(tmp_path: Path) -> None:
    archive = _archive(tmp_path / "b.zip", {f"{i}.xml": b"x" for i in range(5)})
    with pytest.raises(UnsafeArchive) as info:
        extract_zip(archive, tmp_path / "out", limits=ZipLimits(max_entries=4))
    assert [p.split(":")[0] for p in info.value.problems] == ["zip-too-many-entries"]
    assert list((tmp_path / "out").iterdir()) == []


def test_extraction_refuses_a_declared_total_over_the_limit_with_zipsafe(tmp_path: Path) -> None:
    archive = _archive(tmp_path / "b.zip", {"a.xml": b"a" * 3000, "b.xml": b"b" * 3000})
    with pytest.raises(UnsafeArchive) as info:
        extract_zip(archive, tmp_path / "out", limits=ZipLimits(max_total_bytes=5000))
    assert any(p.startswith("zip-too-large: the archive declares 6000 uncompressed bytes") for p in info.value.problems)
    assert list((tmp_path / "out").iterdir()) == []
