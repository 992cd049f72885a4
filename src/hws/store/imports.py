"""Imports: packages received by ``POST /request``, before and after validation."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Table, bindparam, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from hws.domain.lifecycle import ImportState
from hws.store.compiled_reads import CompiledRead, DirectReader
from hws.store.jobs import DEAD, JobKind
from hws.store.tables import blobs, idempotency_keys, imports, jobs

PENDING, IMPORTED, REJECTED = ImportState.PENDING, ImportState.IMPORTED, ImportState.REJECTED


@dataclass(frozen=True)
class ImportRecord:
    import_id: str
    client_id: str
    office: str
    blob_sha256: str
    size: int
    status: str
    received_at: datetime
    processed_at: datetime | None
    transaction: str | None
    office_reference: str | None
    srn: str | None
    problems: list[dict[str, Any]] = field(default_factory=list)
    updated_at: datetime | None = None

    @property
    def etag(self) -> str:
        stamp = self.updated_at.timestamp() if self.updated_at else 0
        return f'"{self.import_id}-{self.status}-{stamp:.6f}"'


def _record(row: Any) -> ImportRecord:
    return ImportRecord(
        import_id=row.import_id,
        client_id=row.client_id,
        office=row.office,
        blob_sha256=row.blob_sha256,
        size=row.size,
        status=row.status,
        received_at=row.received_at,
        processed_at=row.processed_at,
        transaction=row.transaction,
        office_reference=row.office_reference,
        srn=row.srn,
        problems=json.loads(row.problems) if row.problems else [],
        updated_at=row.updated_at,
    )


def _insert(conn: Connection) -> Callable[[Table], postgresql.Insert | sqlite.Insert]:
    return (postgresql if conn.dialect.name == "postgresql" else sqlite).insert


# Built once per dialect (a statement built per call costs more CPU than its execution).
_REFERENCE_BLOB = {
    dialect.__name__.rsplit(".", 1)[-1]: dialect.insert(blobs).on_conflict_do_nothing() for dialect in (postgresql, sqlite)
}
_INSERT_IMPORT = insert(imports)
_GET = select(imports).where(imports.c.import_id == bindparam("import_id"))
_FINISH = (
    update(imports)
    .where(imports.c.import_id == bindparam("pending_import"), imports.c.status == PENDING)
    .values(
        status=bindparam("outcome"),
        processed_at=bindparam("stamp"),
        updated_at=bindparam("stamp"),
        transaction=bindparam("transaction_kind"),
        office_reference=bindparam("reference"),
        srn=bindparam("request"),
        problems=bindparam("found"),
    )
    .returning(imports.c.import_id)
)


def reference_blob(conn: Connection, sha256: str, size: int, now: datetime) -> None:
    """Record that a committed blob is in use (idempotent)."""
    conn.execute(_REFERENCE_BLOB[conn.dialect.name], {"sha256": sha256, "size": size, "created_at": now})


def reference_blobs(conn: Connection, stored: Sequence[tuple[str, int]], now: datetime) -> None:
    """:func:`reference_blob` for many ``(sha256, size)`` at once: one statement, executed
    for all (a package of many files is recorded in one round trip, not one per file), in
    digest order, so that two transactions recording the same blobs take their row locks
    in the same order (PostgreSQL)."""
    rows = [{"sha256": sha256, "size": size, "created_at": now} for sha256, size in sorted(dict(stored).items())]
    if rows:
        conn.execute(_REFERENCE_BLOB[conn.dialect.name], rows)


def referenced_blobs(conn: Connection, candidates: list[str]) -> set[str]:
    """Which of ``candidates`` (SHA-256 hex) a row records as in use."""
    return set(conn.execute(select(blobs.c.sha256).where(blobs.c.sha256.in_(candidates))).scalars())


@dataclass(frozen=True)
class IdempotentHit:
    import_id: str
    same_bytes: bool


def claim_idempotency_key(
    conn: Connection, *, client_id: str, key: str, import_id: str, sha256: str, now_s: int, retention: int
) -> IdempotentHit | None:
    """Bind ``key`` to this import, or return what it is already bound to.

    Runs in the upload's transaction: of two concurrent uploads with the same key, one
    inserts and the other sees its row (PostgreSQL waits on the unique index; SQLite's
    write lock serialises them).
    """
    conn.execute(
        delete(idempotency_keys).where(
            idempotency_keys.c.client_id == client_id,
            idempotency_keys.c.key == key,
            idempotency_keys.c.expires_at < now_s,
        )
    )
    inserted = conn.execute(
        _insert(conn)(idempotency_keys)
        .values(client_id=client_id, key=key, import_id=import_id, sha256=sha256, expires_at=now_s + retention)
        .on_conflict_do_nothing()
        .returning(idempotency_keys.c.import_id)
    ).first()
    if inserted is not None:
        return None
    row = conn.execute(
        select(idempotency_keys.c.import_id, idempotency_keys.c.sha256).where(
            idempotency_keys.c.client_id == client_id, idempotency_keys.c.key == key
        )
    ).one()
    return IdempotentHit(row.import_id, row.sha256 == sha256)


def insert_import(
    conn: Connection, *, import_id: str, client_id: str, office: str, sha256: str, size: int, now: datetime
) -> None:
    conn.execute(
        _INSERT_IMPORT,
        {
            "import_id": import_id,
            "client_id": client_id,
            "office": office,
            "blob_sha256": sha256,
            "size": size,
            "status": PENDING,
            "received_at": now,
            "updated_at": now,
        },
    )


_GET_DIRECT = CompiledRead(_GET)


def get(engine_or_conn: Engine | Connection | DirectReader, import_id: str) -> ImportRecord | None:
    """The import, read through an engine, in a connection's transaction, or directly
    (:mod:`hws.store.compiled_reads`: a status poll's cache miss)."""
    params = {"import_id": import_id}
    if isinstance(engine_or_conn, Engine):
        with engine_or_conn.connect() as conn:
            row = conn.execute(_GET, params).first()
    elif isinstance(engine_or_conn, Connection):
        row = engine_or_conn.execute(_GET, params).first()
    else:
        row = engine_or_conn.fetch_one(_GET_DIRECT, params)
    return _record(row) if row else None


def finished(
    engine: Engine,
    *,
    status: str = REJECTED,
    office: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[ImportRecord], int]:
    """Imports finished with ``status``, processed in [``since``, ``until``) and of
    ``office`` when given, newest first: one page (``limit`` from ``offset``) and how many
    there are in all."""
    conditions = [imports.c.status == status]
    if office:
        conditions.append(imports.c.office == office)
    if since is not None:
        conditions.append(imports.c.processed_at >= since)
    if until is not None:
        conditions.append(imports.c.processed_at < until)
    page = (
        select(imports)
        .where(*conditions)
        .order_by(imports.c.processed_at.desc(), imports.c.import_id.desc())
        .limit(limit)
        .offset(offset)
    )
    with engine.connect() as conn:
        rows = conn.execute(page).all()
        total = conn.execute(select(func.count()).select_from(imports).where(*conditions)).scalar_one()
    return [_record(r) for r in rows], int(total)


def outcomes(engine: Engine, *, since: datetime, until: datetime) -> dict[str, int]:
    """How many imports finished in [``since``, ``until``), by outcome (imported, rejected)."""
    query = (
        select(imports.c.status, func.count())
        .where(imports.c.status != PENDING, imports.c.processed_at >= since, imports.c.processed_at < until)
        .group_by(imports.c.status)
    )
    with engine.connect() as conn:
        return {status: int(n) for status, n in conn.execute(query).all()}


def pending_count(engine: Engine) -> int:
    """Imports received and not yet validated."""
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(imports).where(imports.c.status == PENDING)).scalar_one())


@dataclass(frozen=True)
class FailedImport:
    """An import still ``Pending`` whose import job is dead: every attempt to process the
    package failed (``last_error``), so nothing was decided about it; once the cause is
    fixed the job is retried (``hws admin jobs retry JOB_ID``)."""

    record: ImportRecord
    job_id: int
    attempts: int
    last_error: str | None
    failed_at: datetime


def failed(engine: Engine, *, office: str | None = None, import_id: str | None = None, limit: int = 50) -> list[FailedImport]:
    """Pending imports whose import job is dead, the most recently failed first."""
    query = (
        select(imports, jobs.c.id.label("job_id"), jobs.c.attempts, jobs.c.last_error, jobs.c.updated_at.label("failed_at"))
        .select_from(imports.join(jobs, (jobs.c.kind == JobKind.IMPORT.value) & (jobs.c.ref == imports.c.import_id)))
        .where(imports.c.status == PENDING, jobs.c.status == DEAD)
        .order_by(jobs.c.updated_at.desc(), jobs.c.id.desc())
        .limit(limit)
    )
    if office:
        query = query.where(imports.c.office == office)
    if import_id:
        query = query.where(imports.c.import_id == import_id)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [FailedImport(_record(r), r.job_id, r.attempts, r.last_error, r.failed_at) for r in rows]


def finish(
    conn: Connection,
    import_id: str,
    *,
    status: str,
    now: datetime,
    transaction: str | None,
    office_reference: str | None,
    srn: str | None = None,
    problems: list[dict[str, Any]] | None = None,
) -> bool:
    """Pending → Imported or Rejected, once: ``False`` if it was already finished."""
    changed = conn.execute(
        _FINISH,
        {
            "pending_import": import_id,
            "outcome": status,
            "stamp": now,
            "transaction_kind": transaction,
            "reference": office_reference,
            "request": srn,
            "found": json.dumps(problems) if problems else None,
        },
    ).first()
    return changed is not None


def purge_idempotency_keys(engine: Engine, now_s: int) -> int:
    with engine.begin() as conn:
        return conn.execute(delete(idempotency_keys).where(idempotency_keys.c.expires_at < now_s)).rowcount
