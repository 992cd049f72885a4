"""What a weekly issue reads from the register: registered applications in a window
(streamed in IRN order), the decisions recorded in it, and who receives copies.

The publisher's queries, kept behind the store boundary: it asks by dates and offices
and gets plain records back, with each registration's stored files.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, Connection, Engine, func, select

from hws.domain.lifecycle import Status
from hws.st96.package import PackageContent
from hws.st96.transactions import TransactionKind
from hws.store.service_requests import StoredFile
from hws.store.tables import clients, service_requests, sr_designations, sr_files

_SR = service_requests.c


@dataclass(frozen=True)
class RegistrationCriteria:
    """Registered applications recorded up to ``recorded_until`` (and after
    ``recorded_after``), expected in ``publication_from``..``publication_to``, and
    designating ``designating`` — each criterion optional but the first."""

    recorded_until: datetime
    recorded_after: datetime | None = None
    publication_from: date | None = None
    publication_to: date | None = None
    designating: str | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = [
            _SR.status == Status.REGISTERED.value,
            _SR.transaction == TransactionKind.APPLICATION.value,
            _SR.registered_at <= self.recorded_until,
        ]
        if self.recorded_after is not None:
            found.append(_SR.registered_at > self.recorded_after)
        if self.publication_from is not None:
            found.append(_SR.expected_publication >= self.publication_from)
        if self.publication_to is not None:
            found.append(_SR.expected_publication <= self.publication_to)
        if self.designating is not None:
            office = self.designating.strip().upper()
            found.append(_SR.srn.in_(select(sr_designations.c.srn).where(sr_designations.c.office == office)))
        return found


@dataclass(frozen=True)
class RegisteredApplication:
    srn: str
    irn: str
    registered_at: datetime
    expected_publication: date
    content: PackageContent
    files: list[StoredFile]


def files_in(conn: Connection, srn: str) -> list[StoredFile]:
    rows = conn.execute(select(sr_files).where(sr_files.c.srn == srn).order_by(sr_files.c.path))
    return [StoredFile(r.path, r.sha256, r.size, r.media_type, r.kind) for r in rows]


def count_registrations(engine: Engine, criteria: RegistrationCriteria) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(service_requests).where(*criteria.conditions())).scalar_one())


def registrations(engine: Engine, criteria: RegistrationCriteria, *, batch: int) -> Iterator[RegisteredApplication]:
    """The matching registrations in IRN order, fetched ``batch`` rows per round trip (a
    server-side cursor on PostgreSQL), never all at once."""
    columns = [_SR.srn, _SR.irn, _SR.registered_at, _SR.expected_publication, _SR.data]
    # IRNs are "DM/" and six digits: the database's order is the writer's under any collation
    query = select(*columns).where(*criteria.conditions()).order_by(_SR.irn)
    with engine.connect() as conn:
        for row in conn.execution_options(yield_per=batch).execute(query):
            assert row.irn and row.registered_at and row.expected_publication
            yield RegisteredApplication(
                row.srn,
                row.irn,
                row.registered_at,
                row.expected_publication,
                PackageContent.from_json(json.loads(row.data)),
                files_in(conn, row.srn),
            )


def decisions_recorded(engine: Engine, after: datetime, until: datetime) -> list[str]:
    """SRNs of the decisions (anything but an application, with a target IRN) recorded
    in the window, in SRN order."""
    query = (
        select(_SR.srn)
        .where(
            _SR.status == Status.REGISTERED.value,
            _SR.transaction != TransactionKind.APPLICATION.value,
            _SR.target_irn.is_not(None),
            _SR.registered_at > after,
            _SR.registered_at <= until,
        )
        .order_by(_SR.srn)
    )
    with engine.connect() as conn:
        return list(conn.execute(query).scalars())


def earliest_filing(engine: Engine) -> datetime | None:
    """When the first service request was filed (None on an empty register)."""
    with engine.connect() as conn:
        value: datetime | None = conn.execute(select(_SR.created_at).order_by(_SR.created_at).limit(1)).scalar()
        return value


def examining_offices(engine: Engine) -> list[str]:
    """The offices of the active examining clients: one confidential copy each."""
    with engine.connect() as conn:
        rows = conn.execute(select(clients.c.office).where(clients.c.examining.is_(True), clients.c.active.is_(True)).distinct())
        return sorted(set(rows.scalars()))
