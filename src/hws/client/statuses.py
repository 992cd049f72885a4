"""What the API says about a submitted package and about the service request it became.

:class:`ImportStatus` is the ``hws:ImportStatus`` document (answer of ``POST /request`` and
``GET /request/import/{importId}``); :class:`RequestStatus` is ``hws:ServiceRequestStatus``
(``GET /request/{srn}``). Both are read by the reader that sits beside the service's writer
(:mod:`hws.st96.api_documents`, through the hardened parser); a document that does not
follow ``hws-api-v1.xsd`` raises :class:`~hws.client.errors.UnexpectedResponse`.

Nothing here re-declares the service's definitions: the states are its own
(:mod:`hws.domain.lifecycle`: :class:`ImportState`, :class:`Status`, which
:data:`RequestState` names), the transaction kinds too (:mod:`hws.st96.transactions`),
and :class:`RequestStatus` *is* the service's ``RequestStatusView``. :class:`ImportStatus`
keeps the kit's own field names (``package_size``, ``package_sha256``, ``xml_path``) and
adds the response headers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any

from hws.client.errors import UnexpectedResponse
from hws.domain.lifecycle import ImportState, Status
from hws.st96.api_documents import (
    DocumentError,
    ImportStatusView,
    RequestStatusView,
    read_import_status,
    read_request_status,
)
from hws.st96.transactions import TransactionKind

#: a service request's state, as the service names it (an alias kept for the kit's users)
RequestState = Status

__all__ = [
    "ImportState",
    "ImportStatus",
    "PackageProblem",
    "RequestState",
    "RequestStatus",
    "TransactionKind",
    "UnexpectedResponse",
    "parse_import_status",
    "parse_request_status",
]


@dataclass(frozen=True)
class PackageProblem:
    """One reason the service gave for rejecting a package (spec §5)."""

    code: str
    severity: str  # error | warning
    message: str
    entry: str | None = None  # ZIP entry name
    xml_path: str | None = None
    line: int | None = None

    @property
    def where(self) -> str:
        parts = [p for p in (self.entry, f"line {self.line}" if self.line else None, self.xml_path) if p]
        return ", ".join(parts)


@dataclass(frozen=True)
class ImportStatus:
    """An uploaded package: ``Pending``, then ``Imported`` (with the SRN) or ``Rejected``."""

    import_id: str
    status: ImportState
    received_at: datetime
    package_size: int
    package_sha256: str  # hex
    processed_at: datetime | None = None
    transaction: str | None = None
    office_reference: str | None = None
    srn: str | None = None
    problems: tuple[PackageProblem, ...] = ()
    #: from the response headers, not the document: when to ask again, where the import lives
    retry_after: float | None = field(default=None, compare=False)
    location: str | None = field(default=None, compare=False)

    @property
    def finished(self) -> bool:
        return self.status is not ImportState.PENDING

    @property
    def imported(self) -> bool:
        return self.status is ImportState.IMPORTED

    @property
    def rejected(self) -> bool:
        return self.status is ImportState.REJECTED

    @property
    def transaction_kind(self) -> TransactionKind | None:
        """:attr:`transaction` as the service's :class:`~hws.st96.transactions.TransactionKind`."""
        return _kind(self.transaction)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = str(self.status)
        data["problems"] = [asdict(p) for p in self.problems]
        return data

    @classmethod
    def from_view(cls, view: ImportStatusView) -> ImportStatus:
        return cls(
            import_id=view.import_id,
            status=ImportState(view.status),
            received_at=view.received_at,
            package_size=view.size,
            package_sha256=view.sha256,
            processed_at=view.processed_at,
            transaction=view.transaction,
            office_reference=view.office_reference,
            srn=view.srn,
            problems=tuple(
                PackageProblem(p.code, p.severity, p.message, entry=p.entry, xml_path=p.path, line=p.line) for p in view.problems
            ),
        )


@dataclass(frozen=True)
class RequestStatus(RequestStatusView):
    """A service request (spec §6), identified by its SRN: the service's own
    :class:`~hws.st96.api_documents.RequestStatusView` (same fields, same order), read
    back with its state as the service's :class:`~hws.domain.lifecycle.Status`."""

    status: RequestState  # the view writes a Status or its text; it reads back a Status

    @property
    def transaction_kind(self) -> TransactionKind | None:
        """:attr:`transaction` as the service's :class:`~hws.st96.transactions.TransactionKind`."""
        return _kind(self.transaction)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = str(self.status)
        return data

    @classmethod
    def from_view(cls, view: RequestStatusView) -> RequestStatus:
        values = {f.name: getattr(view, f.name) for f in fields(RequestStatusView)}
        return cls(**{**values, "status": Status(view.status)})


def _kind(transaction: str | None) -> TransactionKind | None:
    """The service's kind for a ``TransactionCategory`` (an ``xs:string``: None if unknown)."""
    try:
        return TransactionKind(transaction) if transaction else None
    except ValueError:
        return None


def parse_import_status(data: bytes) -> ImportStatus:
    """Read an ``hws:ImportStatus`` document (:func:`hws.st96.api_documents.read_import_status`)."""
    try:
        return ImportStatus.from_view(read_import_status(data))
    except DocumentError as exc:
        raise UnexpectedResponse(str(exc)) from None


def parse_request_status(data: bytes) -> RequestStatus:
    """Read an ``hws:ServiceRequestStatus`` document (:func:`hws.st96.api_documents.read_request_status`)."""
    try:
        return RequestStatus.from_view(read_request_status(data))
    except DocumentError as exc:
        raise UnexpectedResponse(str(exc)) from None
