"""The API's documents: what the service writes, the office kit reads back the same, with
the service's own states."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hws.client.statuses import ImportStatus, RequestState, RequestStatus, parse_import_status, parse_request_status
from hws.domain.lifecycle import ImportState, Status
from hws.st96 import safexml
from hws.st96.api_documents import (
    DocumentError,
    ImportStatusView,
    PackageProblem,
    PublicationView,
    RequestStatusView,
    import_status,
    publication_list,
    read_import_status,
    read_publication_list,
    read_request_status,
    request_status,
    schema,
)

WHEN = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=40).map(str.strip).filter(bool)


def test_the_kit_uses_the_services_states() -> None:
    assert RequestState is Status
    assert list(ImportState) == [ImportState.PENDING, ImportState.IMPORTED, ImportState.REJECTED]


@given(
    status=st.sampled_from(list(ImportState)),
    srn=st.none() | st.just("970000123"),
    problems=st.lists(st.builds(PackageProblem, code=TEXT, severity=st.sampled_from(["error", "warning"]), message=TEXT,
                                entry=st.none() | TEXT, path=st.none() | TEXT, line=st.none() | st.integers(1, 10**6)), max_size=3),
)  # fmt: skip
def test_an_import_status_reads_back_as_written(status: ImportState, srn: str | None, problems: list[PackageProblem]) -> None:
    view = ImportStatusView("01J00000000000000000000000", status, WHEN, 1234, "ab" * 32, processed_at=WHEN, srn=srn,
                            transaction="HagueApplication", office_reference="ref-1", problems=tuple(problems))  # fmt: skip
    document = import_status(view)
    schema("hws-api-v1.xsd").assertValid(safexml.parse(document))
    assert read_import_status(document) == view
    client = parse_import_status(document)
    assert isinstance(client, ImportStatus) and client.status is status and client.package_size == 1234
    assert [p.xml_path for p in client.problems] == [p.path for p in problems]


@pytest.mark.parametrize("status", list(Status))
def test_a_request_status_reads_back_as_written(status: Status) -> None:
    view = RequestStatusView("01J00000000000000000000000", "970000123", status, "HagueApplication", "KR", WHEN,
                             office_reference="ref", irn="DM/200001", expected_publication=date(2027, 5, 21),
                             regularization_deadline=date(2027, 1, 20))  # fmt: skip
    document = request_status(view)
    assert read_request_status(document) == view
    client = parse_request_status(document)
    assert isinstance(client, RequestStatus) and client.status is status and client.irn == "DM/200001"


def test_a_publication_list_reads_back_as_written() -> None:
    item = PublicationView("202647", "2026/47", date(2026, 11, 20), 10, "cd" * 32, 3, 1, WHEN, "https://x/202647")
    listing = read_publication_list(publication_list("confidential", [item], office="US"))
    assert (listing.kind, listing.office, listing.items) == ("confidential", "US", (item,))


def test_a_document_off_contract_is_named() -> None:
    document = request_status(RequestStatusView("i", "970000001", Status.PROCESSING, "HagueApplication", "KR", WHEN))
    with pytest.raises(DocumentError, match="ProcessingStatusCategory 'Lost' is none of"):
        read_request_status(document.replace(b">Processing<", b">Lost<"))
    with pytest.raises(DocumentError, match="expected hws:ImportStatus"):
        read_import_status(document)
