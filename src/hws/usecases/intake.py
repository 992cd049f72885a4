"""Recording a received package: the step between "the bytes are durable" and "202".

Called with a committed blob; in one transaction it references the blob, creates the
import row, binds the Idempotency-Key and enqueues the validation job. Only after that
commit does the API answer 202.
"""

from __future__ import annotations

from dataclasses import dataclass

from hws.domain.identifiers import new_import_id
from hws.store import audit
from hws.store import imports as import_store
from hws.store.blobs import BlobRef
from hws.store.clients import Client
from hws.store.jobs import JobKind
from hws.usecases.ports import Queueing


class IdempotencyConflict(Exception):
    """The Idempotency-Key was used before with other bytes."""

    def __init__(self, import_id: str) -> None:
        super().__init__(import_id)
        self.import_id = import_id


@dataclass(frozen=True)
class Receipt:
    record: import_store.ImportRecord
    replayed: bool  # an idempotent retry: the first answer again


def record_receipt(
    service: Queueing, client: Client, blob: BlobRef, idempotency_key: str | None, source: str | None = None
) -> Receipt:
    clock = service.clock
    now = clock.now()
    import_id = new_import_id(int(clock.timestamp() * 1000))
    with service.engine.begin() as conn:
        import_store.reference_blob(conn, blob.sha256, blob.size, now)
        import_store.insert_import(
            conn,
            import_id=import_id,
            client_id=client.client_id,
            office=client.office,
            sha256=blob.sha256,
            size=blob.size,
            now=now,
        )
        if idempotency_key is not None:
            hit = import_store.claim_idempotency_key(
                conn,
                client_id=client.client_id,
                key=idempotency_key,
                import_id=import_id,
                sha256=blob.sha256,
                now_s=int(clock.timestamp()),
                retention=service.settings.idempotency_retention,
            )
            if hit is not None:
                conn.rollback()
                if not hit.same_bytes:
                    raise IdempotencyConflict(hit.import_id)
                first = import_store.get(service.engine, hit.import_id)
                assert first is not None
                return Receipt(first, replayed=True)
        audit.record(
            conn,
            audit.AuditEvent(
                at=now, actor=client.client_id, office=client.office, action="request.submitted", target=import_id,
                source=source, detail={"size": blob.size, "sha256": blob.sha256, "idempotency_key": idempotency_key},
            ),
        )  # fmt: skip
        service.jobs.enqueue(conn, JobKind.IMPORT, import_id)
    # Built from what was just committed, not read back: a connection lost right after the
    # commit must not turn an accepted package into an error.
    record = import_store.ImportRecord(
        import_id=import_id,
        client_id=client.client_id,
        office=client.office,
        blob_sha256=blob.sha256,
        size=blob.size,
        status=import_store.PENDING,
        received_at=now,
        processed_at=None,
        transaction=None,
        office_reference=None,
        srn=None,
        updated_at=now,
    )
    return Receipt(record, replayed=False)
