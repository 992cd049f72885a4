"""Import processing: validate a received package and open a service request, or reject it.

Exactly once: the import row moves Pending → Imported/Rejected in the same transaction
that completes the job under its lease, so a retaken job (its first worker died) either
finds the import already finished or does the whole work itself.
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
from contextlib import ExitStack, nullcontext
from dataclasses import replace
from datetime import datetime

from hws.domain.designations import check_decision_sender
from hws.domain.identifiers import format_srn
from hws.st96.package import PackageContent, ValidationReport, validate_package
from hws.st96.problems import Location, Problem
from hws.store import audit, packed_files
from hws.store import imports as import_store
from hws.store import service_requests as sr_store
from hws.store.blobs import BlobRef
from hws.store.counters import next_value
from hws.store.jobs import Job
from hws.usecases import metrics, notifications
from hws.usecases.auto_examination import enqueue_examination
from hws.usecases.ports import Importing

log = logging.getLogger("hws.worker.imports")


def _media_type(name: str) -> str:
    guessed, _ = mimetypes.guess_type(name)
    return guessed or "application/octet-stream"


def _problems(report: ValidationReport) -> list[dict[str, object]]:
    return [problem.to_dict() for problem in report.problems]


def _against_the_register(service: Importing, report: ValidationReport) -> ValidationReport:
    """A valid decision about a registration already on the register must come from an
    office that registration designates (:mod:`hws.domain.designations`). A decision
    about an IRN not (yet) registered goes to examination, which checks again."""
    content = report.content
    assert content is not None
    if not content.transaction.is_decision or not content.irn:
        return report
    registration = sr_store.by_irn(service.engine, content.irn)
    if registration is None:
        return report
    refused = check_decision_sender(
        content.transaction.value,
        content.office,
        irn=content.irn,
        designated=sr_store.designations(service.engine, registration.srn),
        filing_office=registration.office,
    )
    if refused is None:
        return report
    where = Location(
        entry=content.xml_entry,
        path=(
            f"/dgn:HagueOfficeToIBTransaction/dgn:HagueOfficeToIBBag/dgn:{content.transaction.value}"
            "/com:InternationalRegistrationNumber"
        ),
    )
    return replace(report, problems=[*report.problems, Problem(refused.code, refused.message, where)])


def process_import(service: Importing, job: Job) -> str:
    """Handle one ``import`` job; returns the import's final status."""
    record = import_store.get(service.reader, job.ref)  # a read: no write lock (SQLite)
    if record is None:
        raise RuntimeError(f"import {job.ref} has no row")
    if record.status != import_store.PENDING:
        with service.engine.begin() as conn:
            service.jobs.complete(conn, job)
        return record.status

    with ExitStack() as stack:
        path = service.blobs.local_path(record.blob_sha256)
        source = path if path is not None else stack.enter_context(service.blobs.open(record.blob_sha256))
        report = validate_package(
            source,
            office=record.office,
            limits=service.zip_limits,
            schemas=service.schema_set,
            structural_only=service.structural_only,
        )
    # The import's end and the service request's filing date are business events: they
    # follow the calendar (the sandbox's movable clock, or real time in production).
    now = service.calendar.now()
    content = report.content
    if report.ok and content is not None:
        report = _against_the_register(service, report)
    if not report.ok or content is None:
        with service.engine.begin() as conn:
            import_store.finish(
                conn,
                record.import_id,
                status=import_store.REJECTED,
                now=now,
                transaction=content.transaction.value if content else None,
                office_reference=content.office_reference if content else None,
                problems=_problems(report),
            )
            audit.record(conn, audit.AuditEvent(
                at=now, actor="worker", office=record.office, action="import.rejected", target=record.import_id,
                outcome="rejected", detail={"codes": sorted(report.codes)},
            ))  # fmt: skip
            notifications.import_finished(
                conn,
                service,
                import_id=record.import_id,
                office=record.office,
                status=import_store.REJECTED,
                at=now,
                transaction=content.transaction.value if content else None,
                office_reference=content.office_reference if content else None,
                srn=None,
                problems=_problems(report),
            )
            service.jobs.complete(conn, job)
        metrics.import_finished(metrics.REJECTED, (p.code for p in report.errors))
        log.info(
            "import rejected",
            extra={"event": "import.rejected", "import_id": record.import_id, "codes": sorted(report.codes)},
        )
        return import_store.REJECTED

    return _open_request(service, job, record, content, report, now)


def _files(
    service: Importing, content: PackageContent, report: ValidationReport, loose: list[str]
) -> tuple[dict[str, BlobRef], list[packed_files.PackedFile], list[BlobRef]]:
    """Every file's digest and size, in package order; the files kept inside the stored
    package (their spans, as validation read them); and the ``loose`` ones (no span known:
    none, as a rule) written as blobs of their own."""
    written = dict(zip(loose, service.blobs.put_many([content.files[n] for n in loose]), strict=True)) if loose else {}
    refs: dict[str, BlobRef] = {}
    packed: list[packed_files.PackedFile] = []
    for name, data in content.files.items():
        ref = written.get(name)
        if ref is None:
            ref = BlobRef(hashlib.sha256(data).hexdigest(), len(data))
            packed.append(packed_files.PackedFile(ref.sha256, ref.size, report.spans[name]))
        refs[name] = ref
    return refs, packed, list(written.values())


def _open_request(
    service: Importing,
    job: Job,
    record: import_store.ImportRecord,
    content: PackageContent,
    report: ValidationReport,
    now: datetime,
) -> str:
    kinds = {d.file: d.kind for d in content.documents}
    # The files stay inside the stored package (durable since its 202): recorded by their
    # spans, not copied out. A file whose span is unknown is written as a blob of its own,
    # safe from the orphan sweeper until the rows referencing it commit.
    loose = [name for name in content.files if name not in report.spans]
    with service.blobs.referencing() if loose else nullcontext():
        refs, packed, written = _files(service, content, report, loose)
        stored = [
            sr_store.StoredFile(
                name,
                ref.sha256,
                ref.size,
                _media_type(name),
                "ST96_XML" if name == content.xml_entry else kinds.get(name) or "REPRODUCTION",
            )
            for name, ref in refs.items()
        ]
        with service.engine.begin() as conn:
            if written:
                import_store.reference_blobs(conn, [(ref.sha256, ref.size) for ref in written], now)
            packed_files.record(conn, record.blob_sha256, packed, now)
            srn = format_srn(next_value(conn, "srn", service.settings.srn_start))
            finished = import_store.finish(
                conn,
                record.import_id,
                status=import_store.IMPORTED,
                now=now,
                transaction=content.transaction.value,
                office_reference=content.office_reference,
                srn=srn,
                problems=[p.to_dict() for p in report.warnings] or None,
            )
            if not finished:  # another worker finished it meanwhile: undo our allocation
                conn.rollback()
                with service.engine.begin() as done:
                    service.jobs.complete(done, job)
                current = import_store.get(service.engine, record.import_id)
                assert current is not None  # finished by the other worker, never deleted
                return current.status
            sr_store.create(
                conn,
                srn=srn,
                import_id=record.import_id,
                client_id=record.client_id,
                content=content,
                files=stored,
                now=now,
            )
            audit.record(conn, audit.AuditEvent(
                at=now, actor="worker", office=record.office, action="import.imported", target=record.import_id,
                detail={"srn": srn, "transaction": content.transaction.value},
            ))  # fmt: skip
            notifications.import_finished(
                conn,
                service,
                import_id=record.import_id,
                office=record.office,
                status=import_store.IMPORTED,
                at=now,
                transaction=content.transaction.value,
                office_reference=content.office_reference,
                srn=srn,
                problems=[p.to_dict() for p in report.warnings],
            )
            if service.settings.examination == "auto":
                enqueue_examination(conn, service, srn)
            service.jobs.complete(conn, job)
        metrics.import_finished(metrics.IMPORTED)
        metrics.status_changed(None, sr_store.UNDEFINED)
        log.info(
            "import accepted",
            extra={
                "event": "import.imported",
                "import_id": record.import_id,
                "srn": srn,
                "transaction": content.transaction.value,
            },
        )
        return import_store.IMPORTED
