"""Import processing: a package is validated once, and the import ends Imported (with a
service request holding the versioned record) or Rejected (with every problem), exactly
once even when its job is retaken."""

from __future__ import annotations

from pathlib import Path

import pytest

from hws.st96.content import RECORD_VERSION
from hws.st96.examples import example_package
from hws.store import audit as audit_store
from hws.store import imports as import_store
from hws.store import service_requests as sr_store
from hws.store.jobs import DONE
from hws.usecases.import_processing import process_import
from hws.usecases.intake import record_receipt
from tests.conftest import enrol, make_service


@pytest.fixture
def service(tmp_path: Path, sqlite_url: str):  # type: ignore[no-untyped-def]
    service = make_service(tmp_path, sqlite_url, worker_threads=0)
    yield service
    service.close()


def receive(service, package: bytes, office: str = "KR") -> str:  # type: ignore[no-untyped-def]
    client = service.registry.get(enrol(service, office=office).client_id)
    return record_receipt(service, client, service.blobs.put_bytes(package), None).record.import_id


def test_an_accepted_package_opens_a_request_holding_its_record(service) -> None:  # type: ignore[no-untyped-def]
    import_id = receive(service, example_package("application", office="KR"))
    job = service.jobs.claim("test")
    assert process_import(service, job) == import_store.IMPORTED
    record = import_store.get(service.engine, import_id)
    assert record is not None and record.srn is not None and record.transaction == "HagueApplication"
    sr = sr_store.get(service.engine, record.srn)
    assert sr is not None and sr.data["record_version"] == RECORD_VERSION
    assert sr.content.holders[0].name == "ACME Corporation" and [d.office for d in sr.content.designations] == ["EM", "US", "JP"]
    kinds = {f.kind for f in sr_store.files(service.engine, sr.srn)}
    assert "ST96_XML" in kinds and "REPRODUCTION" in kinds
    assert service.jobs.counts() == {DONE: 1}


def test_a_rejected_package_records_every_problem(service) -> None:  # type: ignore[no-untyped-def]
    import_id = receive(service, example_package("application", office="KR"), office="FR")  # sent by FR, says KR
    assert process_import(service, service.jobs.claim("test")) == import_store.REJECTED
    record = import_store.get(service.engine, import_id)
    assert record is not None and record.srn is None
    assert "office-code-mismatch" in {p["code"] for p in record.problems or []}
    service.audit.flush()
    (event,) = audit_store.query(service.engine, action="import.rejected")
    assert "office-code-mismatch" in event["detail"]["codes"]


def test_a_retaken_job_of_a_finished_import_only_completes(service) -> None:  # type: ignore[no-untyped-def]
    import_id = receive(service, example_package("application", office="KR"))
    job = service.jobs.claim("first")
    assert process_import(service, job) == import_store.IMPORTED
    requests = sr_store.find(service.engine)
    # the same job again (its first worker's completion lost): nothing is done twice
    retaken = service.jobs.list()[0]
    with service.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE jobs SET status = 'queued', lease_owner = NULL WHERE id = ?", (retaken.id,))
    again = service.jobs.claim("second")
    assert again is not None and again.ref == import_id
    assert process_import(service, again) == import_store.IMPORTED
    assert sr_store.find(service.engine) == requests and service.jobs.counts() == {DONE: 1}
