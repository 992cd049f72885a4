"""Reading the API's status documents: typed fields, and clear errors for anything else."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hws.client.statuses import ImportState, UnexpectedResponse, parse_import_status, parse_request_status
from hws.st96.api_documents import ImportStatusView, RequestStatusView, import_status, request_status

WHEN = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
H = 'xmlns="urn:hws:xml:api:v1" xmlns:com="http://www.wipo.int/standards/XMLSchema/ST96/Common"'


def test_round_trip_with_the_service_writer() -> None:
    view = ImportStatusView("i", "Imported", WHEN, 10, "ab" * 32, WHEN, "HagueRefusalRequest", "REF", "970000123")
    status = parse_import_status(import_status(view))
    assert status.status is ImportState.IMPORTED and status.srn == "970000123"
    assert (status.received_at, status.processed_at) == (WHEN, WHEN) and status.package_size == 10
    assert status.transaction == "HagueRefusalRequest" and status.office_reference == "REF"


def test_offsets_are_kept() -> None:
    doc = import_status(ImportStatusView("i", "Pending", WHEN, 1, "00")).replace(
        b"2025-01-02T03:04:05Z", b"2025-01-02T05:04:05+02:00"
    )
    received = parse_import_status(doc).received_at
    assert received == WHEN and received.utcoffset() == timedelta(hours=2)


def test_request_status_minimal() -> None:
    status = parse_request_status(
        request_status(RequestStatusView("i", "970000001", "Undefined", "HagueApplication", "KR", WHEN))
    )
    assert status.irn is None and status.expected_publication is None and status.regularization_deadline is None


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (b"not xml", "unreadable hws:ImportStatus"),
        (b'<!DOCTYPE x [<!ENTITY a "b">]><x/>', "xml-doctype-forbidden"),
        (f"<PingResponse {H}/>".encode(), "expected hws:ImportStatus"),
        (f"<ImportStatus {H}><ImportIdentifier>i</ImportIdentifier></ImportStatus>".encode(), "PackageDigest is missing"),
    ],
)
def test_unreadable_documents(document: bytes, message: str) -> None:
    with pytest.raises(UnexpectedResponse, match=message):
        parse_import_status(document)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (b">Pending<", b">Lost<", "ImportStatusCategory 'Lost' is none of Pending, Imported, Rejected"),
        (b"2025-01-02T03:04:05Z", b"yesterday", "ReceivedDateTime 'yesterday' is not an ISO 8601 date-time"),
        (b">7<", b">seven<", "PackageSize 'seven' is not a number"),
        (b"sha-256:00", b"md5:00", "PackageDigest 'md5:00' is not sha-256:<hex>"),
    ],
)
def test_contract_violations_are_named(old: bytes, new: bytes, message: str) -> None:
    document = import_status(ImportStatusView("i", "Pending", WHEN, 7, "00"))
    assert old in document
    with pytest.raises(UnexpectedResponse, match=message):
        parse_import_status(document.replace(old, new))
