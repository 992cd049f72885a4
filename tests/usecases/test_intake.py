"""Recording a received package: one commit holds the import, its job, its audit entry and
the Idempotency-Key; a retry with the same key and bytes gets the first answer."""

from __future__ import annotations

from pathlib import Path

import pytest

from hws.st96.examples import example_package
from hws.store import audit as audit_store
from hws.store import imports as import_store
from hws.store.jobs import QUEUED, JobKind
from hws.usecases.intake import IdempotencyConflict, record_receipt
from tests.conftest import enrol, make_service


@pytest.fixture
def service(tmp_path: Path, sqlite_url: str):  # type: ignore[no-untyped-def]
    service = make_service(tmp_path, sqlite_url, worker_threads=0)
    yield service
    service.close()


def test_a_receipt_is_an_import_a_queued_job_and_an_audit_entry(service) -> None:  # type: ignore[no-untyped-def]
    client = service.registry.get(enrol(service, office="KR").client_id)
    blob = service.blobs.put_bytes(example_package("application", office="KR"))
    receipt = record_receipt(service, client, blob, None, source="192.0.2.7")
    assert not receipt.replayed and receipt.record.status == import_store.PENDING and receipt.record.office == "KR"
    stored = import_store.get(service.engine, receipt.record.import_id)
    assert stored is not None and (stored.blob_sha256, stored.size) == (blob.sha256, blob.size)
    (job,) = service.jobs.list()
    assert (job.kind, job.ref, job.status) == (JobKind.IMPORT, receipt.record.import_id, QUEUED)
    service.audit.flush()
    (event,) = audit_store.query(service.engine, action="request.submitted")
    assert (event["actor"], event["target"], event["source"]) == (client.client_id, receipt.record.import_id, "192.0.2.7")


def test_the_same_key_and_bytes_replay_the_first_receipt_and_other_bytes_conflict(service) -> None:  # type: ignore[no-untyped-def]
    client = service.registry.get(enrol(service, office="KR").client_id)
    first_blob = service.blobs.put_bytes(example_package("application", office="KR"))
    first = record_receipt(service, client, first_blob, "key-1")
    again = record_receipt(service, client, service.blobs.put_bytes(example_package("application", office="KR")), "key-1")
    assert again.replayed and again.record.import_id == first.record.import_id
    assert len(service.jobs.list()) == 1  # no second job
    other = service.blobs.put_bytes(example_package("refusal", office="KR"))
    with pytest.raises(IdempotencyConflict) as conflict:
        record_receipt(service, client, other, "key-1")
    assert conflict.value.import_id == first.record.import_id
