"""Service requests (SR): imported packages with their SRN, status and history."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, func, insert, or_, select, update

from hws.domain.lifecycle import Status
from hws.st96.package import PackageContent
from hws.store.compiled_reads import CompiledRead, DirectReader
from hws.store.tables import imports, service_requests, sr_designations, sr_events, sr_files

UNDEFINED = "Undefined"


@dataclass(frozen=True)
class StoredFile:
    path: str
    sha256: str
    size: int
    media_type: str
    kind: str | None


@dataclass(frozen=True)
class ServiceRequest:
    srn: str
    import_id: str
    client_id: str
    office: str
    transaction: str
    status: str
    office_reference: str | None
    target_irn: str | None
    irn: str | None
    expected_publication: date | None
    regularization_deadline: date | None
    fee_shortfall: bool
    registered_at: datetime | None
    recorded_against: str | None
    data: dict[str, Any]
    version: int
    created_at: datetime
    updated_at: datetime

    @property
    def etag(self) -> str:
        return f'"{self.srn}-v{self.version}"'

    @cached_property
    def content(self) -> PackageContent:
        """What the package said (:class:`~hws.st96.package.PackageContent`), from ``data``."""
        return PackageContent.from_json(self.data)

    def as_dict(self) -> dict[str, Any]:
        """A summary for operators (CLI ``--json`` and the operator API)."""

        def iso(value: date | datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "srn": self.srn,
            "import_id": self.import_id,
            "office": self.office,
            "transaction": self.transaction,
            "status": self.status,
            "office_reference": self.office_reference,
            "irn": self.irn,
            "target_irn": self.target_irn,
            "recorded_against": self.recorded_against,
            "expected_publication": iso(self.expected_publication),
            "regularization_deadline": iso(self.regularization_deadline),
            "fee_shortfall": self.fee_shortfall,
            "registered_at": iso(self.registered_at),
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }


def _record(row: Any) -> ServiceRequest:
    return ServiceRequest(
        srn=row.srn,
        import_id=row.import_id,
        client_id=row.client_id,
        office=row.office,
        transaction=row.transaction,
        status=row.status,
        office_reference=row.office_reference,
        target_irn=row.target_irn,
        irn=row.irn,
        expected_publication=row.expected_publication,
        regularization_deadline=row.regularization_deadline,
        fee_shortfall=bool(row.fee_shortfall),
        registered_at=row.registered_at,
        recorded_against=row.recorded_against,
        data=json.loads(row.data),
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


# Built once (a statement built per call costs more CPU than its execution): the values
# are the parameters.
_INSERT_REQUEST = insert(service_requests)
_INSERT_EVENT = insert(sr_events)
_INSERT_DESIGNATIONS = insert(sr_designations)
_INSERT_FILES = insert(sr_files)


def create(
    conn: Connection,
    *,
    srn: str,
    import_id: str,
    client_id: str,
    content: PackageContent,
    files: list[StoredFile],
    now: datetime,
    actor: str = "import",
) -> None:
    conn.execute(
        _INSERT_REQUEST,
        {
            "srn": srn,
            "import_id": import_id,
            "client_id": client_id,
            "office": content.office,
            "transaction": content.transaction.value,
            "status": UNDEFINED,
            "office_reference": content.office_reference,
            "target_irn": content.irn,
            "data": json.dumps(content.to_json(), sort_keys=True),
            "version": 1,
            "created_at": now,
            "updated_at": now,
        },
    )
    designated = sorted(set(content.designated_offices))
    if designated:
        conn.execute(_INSERT_DESIGNATIONS, [{"srn": srn, "office": office} for office in designated])
    if files:
        conn.execute(
            _INSERT_FILES,
            [
                {"srn": srn, "path": f.path, "sha256": f.sha256, "size": f.size, "media_type": f.media_type, "kind": f.kind}
                for f in files
            ],
        )
    conn.execute(
        _INSERT_EVENT,
        {"srn": srn, "at": now, "from_status": None, "to_status": UNDEFINED, "actor": actor, "reason": "package imported"},
    )


_GET = select(service_requests).where(service_requests.c.srn == bindparam("srn"))
_GET_DIRECT = CompiledRead(_GET)


def get(engine: Engine | DirectReader, srn: str) -> ServiceRequest | None:
    """The service request, read through an engine or directly (:mod:`hws.store.compiled_reads`:
    a status poll's cache miss)."""
    if isinstance(engine, Engine):
        with engine.connect() as conn:
            row = conn.execute(_GET, {"srn": srn}).first()
    else:
        row = engine.fetch_one(_GET_DIRECT, {"srn": srn})
    return _record(row) if row else None


def files(engine: Engine, srn: str) -> list[StoredFile]:
    with engine.connect() as conn:
        rows = conn.execute(select(sr_files).where(sr_files.c.srn == srn).order_by(sr_files.c.path)).all()
    return [StoredFile(r.path, r.sha256, r.size, r.media_type, r.kind) for r in rows]


def designations(engine: Engine, srn: str) -> list[str]:
    with engine.connect() as conn:
        return designations_in(conn, srn)


def designations_in(conn: Connection, srn: str) -> list[str]:
    """The offices the request designates (an application's, once registered, its IRN's)."""
    return [r.office for r in conn.execute(select(sr_designations.c.office).where(sr_designations.c.srn == srn))]


def history(engine: Engine, srn: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(select(sr_events).where(sr_events.c.srn == srn).order_by(sr_events.c.id)).all()
    return [
        {"at": r.at.isoformat(), "from": r.from_status, "to": r.to_status, "actor": r.actor, "reason": r.reason} for r in rows
    ]


class StaleRequest(Exception):
    """The request changed since it was read (another actor moved it first)."""


def transition(
    conn: Connection,
    sr: ServiceRequest,
    *,
    to_status: str,
    actor: str,
    reason: str,
    now: datetime,
    **fields: Any,
) -> None:
    """Move ``sr`` to ``to_status`` (already checked against the life cycle), with its
    event, guarded by its version so two concurrent actors cannot both move it."""
    changed = conn.execute(
        update(service_requests)
        .where(service_requests.c.srn == sr.srn, service_requests.c.version == sr.version)
        .values(status=to_status, version=sr.version + 1, updated_at=now, **fields)
        .returning(service_requests.c.srn)
    ).first()
    if changed is None:
        raise StaleRequest(sr.srn)
    conn.execute(
        insert(sr_events).values(srn=sr.srn, at=now, from_status=sr.status, to_status=to_status, actor=actor, reason=reason)
    )


def get_in(conn: Connection, srn: str) -> ServiceRequest | None:
    row = conn.execute(select(service_requests).where(service_requests.c.srn == srn)).first()
    return _record(row) if row else None


def registration_in(conn: Connection, irn: str) -> ServiceRequest | None:
    """The registered application that holds ``irn``, or None."""
    row = conn.execute(
        select(service_requests).where(service_requests.c.irn == irn, service_requests.c.status == Status.REGISTERED.value)
    ).first()
    return _record(row) if row else None


def by_irn(engine: Engine, irn: str) -> ServiceRequest | None:
    with engine.connect() as conn:
        row = conn.execute(select(service_requests).where(service_requests.c.irn == irn)).first()
    return _record(row) if row else None


def find(
    engine: Engine,
    *,
    status: str | None = None,
    office: str | None = None,
    transaction: str | None = None,
    older_than: datetime | None = None,
    office_reference: str | None = None,
    limit: int = 200,
) -> list[ServiceRequest]:
    query = select(service_requests).order_by(service_requests.c.srn).limit(limit)
    if status:
        query = query.where(service_requests.c.status == status)
    if office:
        query = query.where(service_requests.c.office == office)
    if transaction:
        query = query.where(service_requests.c.transaction == transaction)
    if older_than:
        query = query.where(service_requests.c.created_at < older_than)
    if office_reference:
        query = query.where(service_requests.c.office_reference == office_reference)
    with engine.connect() as conn:
        return [_record(r) for r in conn.execute(query).all()]


def overdue(engine: Engine, today: date) -> list[ServiceRequest]:
    """Requests waiting for regularization whose deadline has passed."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(service_requests).where(
                service_requests.c.status == "Pending Regularization",
                service_requests.c.regularization_deadline < today,
            )
        ).all()
    return [_record(r) for r in rows]


def count_by_status(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(select(service_requests.c.status, func.count()).group_by(service_requests.c.status)).all()
    return {status: int(n) for status, n in rows}


# The operator console's queries ------------------------------------------------------------

#: the dates :func:`search` can filter on: the request's creation (its import), or the
#: reception of its package
DATE_FIELDS = ("created", "received")


@dataclass(frozen=True)
class SearchPage:
    """One page of :func:`search`'s matches, and how many there are in all."""

    items: list[ServiceRequest]
    total: int


def _like(text: str) -> str:
    """``text`` as a LIKE pattern matching it anywhere, its wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search(
    engine: Engine,
    *,
    status: str | None = None,
    office: str | None = None,
    transaction: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    dated: str = "created",
    text: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> SearchPage:
    """Requests matching every filter given, newest first: ``since`` ≤ the date named by
    ``dated`` (``created`` or ``received``, see :data:`DATE_FIELDS`) < ``until``; ``text``
    found in the SRN, the IRN (its own or the one it names) or the office reference."""
    if dated not in DATE_FIELDS:
        raise ValueError(f"dated must be one of {', '.join(DATE_FIELDS)}")
    sr = service_requests.c
    conditions = []
    if status:
        conditions.append(sr.status == status)
    if office:
        conditions.append(sr.office == office)
    if transaction:
        conditions.append(sr.transaction == transaction)
    when = imports.c.received_at if dated == "received" else sr.created_at
    if since:
        conditions.append(when >= since)
    if until:
        conditions.append(when < until)
    if text:
        pattern = _like(text.lower())
        conditions.append(
            or_(
                *(
                    func.lower(column).like(pattern, escape="\\")
                    for column in (sr.srn, sr.irn, sr.target_irn, sr.office_reference)
                )
            )
        )
    source = service_requests.join(imports, imports.c.import_id == sr.import_id) if dated == "received" else service_requests
    matching = select(service_requests).select_from(source).where(*conditions)
    counting = select(func.count()).select_from(source).where(*conditions)
    page = matching.order_by(sr.created_at.desc(), sr.srn.desc()).limit(limit).offset(offset)
    with engine.connect() as conn:
        total = int(conn.execute(counting).scalar_one())
        items = [_record(r) for r in conn.execute(page).all()]
    return SearchPage(items, total)


def related(engine: Engine, sr: ServiceRequest) -> list[ServiceRequest]:
    """The requests recorded against ``sr`` or naming its IRN (decisions and other
    communications about it), oldest first."""
    conditions = [service_requests.c.recorded_against == sr.srn]
    if sr.irn:
        conditions.append(service_requests.c.target_irn == sr.irn)
    query = (
        select(service_requests)
        .where(or_(*conditions), service_requests.c.srn != sr.srn)
        .order_by(service_requests.c.created_at, service_requests.c.srn)
    )
    with engine.connect() as conn:
        return [_record(r) for r in conn.execute(query).all()]
