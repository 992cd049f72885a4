"""What the API says about a submitted package and about the service request it became.

:class:`ImportStatus` reads the ``hws:ImportStatus`` document (answer of ``POST /request``
and ``GET /request/import/{importId}``); :class:`RequestStatus` reads
``hws:ServiceRequestStatus`` (``GET /request/{srn}``). Both come through the hardened
parser (:func:`hws.st96.safexml.parse`); a document that does not follow
``hws-api-v1.xsd`` raises :class:`UnexpectedResponse`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from lxml import etree

from hws.client.errors import HWSError
from hws.st96 import safexml
from hws.st96.namespaces import COM, HWS

_H = f"{{{HWS}}}"
_C = f"{{{COM}}}"


class UnexpectedResponse(HWSError):
    """The server answered with a document the office kit cannot read."""


class ImportState(StrEnum):
    PENDING = "Pending"
    IMPORTED = "Imported"
    REJECTED = "Rejected"


class RequestState(StrEnum):
    UNDEFINED = "Undefined"
    PROCESSING = "Processing"
    PENDING_REGULARIZATION = "Pending Regularization"
    REGISTERED = "Registered"
    ABANDONED = "Abandoned"
    CANCELLED = "Cancelled"


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

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = str(self.status)
        data["problems"] = [asdict(p) for p in self.problems]
        return data


@dataclass(frozen=True)
class RequestStatus:
    """A service request (spec §6), identified by its SRN."""

    import_id: str
    srn: str
    status: RequestState
    transaction: str
    office: str
    last_change: datetime
    office_reference: str | None = None
    irn: str | None = None
    expected_publication: date | None = None
    regularization_deadline: date | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = str(self.status)
        return data


# --------------------------------------------------------------------------- reading


class _Reader:
    """Typed access to the children of one API document, with errors that say what is wrong."""

    def __init__(self, root: etree._Element, document: str) -> None:
        self.root = root
        self.document = document

    def fail(self, message: str) -> UnexpectedResponse:
        return UnexpectedResponse(f"unexpected {self.document} from the server: {message}")

    def optional(self, tag: str, parent: etree._Element | None = None) -> str | None:
        element = (self.root if parent is None else parent).find(tag)
        if element is None or element.text is None or not element.text.strip():
            return None
        return element.text.strip()

    def required(self, tag: str, parent: etree._Element | None = None) -> str:
        value = self.optional(tag, parent)
        if value is None:
            raise self.fail(f"{etree.QName(tag).localname} is missing")
        return value

    def datetime(self, tag: str, *, required: bool = False) -> datetime | None:
        text = self.required(tag) if required else self.optional(tag)
        if text is None:
            return None
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            raise self.fail(f"{etree.QName(tag).localname} {text!r} is not an ISO 8601 date-time") from None

    def date(self, tag: str, parent: etree._Element | None = None) -> date | None:
        text = self.optional(tag, parent)
        if text is None:
            return None
        try:
            return date.fromisoformat(text[:10])
        except ValueError:
            raise self.fail(f"{etree.QName(tag).localname} {text!r} is not an ISO 8601 date") from None

    def integer(self, tag: str, text: str | None) -> int | None:
        if text is None:
            return None
        try:
            return int(text)
        except ValueError:
            raise self.fail(f"{etree.QName(tag).localname} {text!r} is not a number") from None


def _root(data: bytes, expected: str) -> _Reader:
    try:
        root = safexml.parse(data).getroot()
    except safexml.XMLRejected as exc:
        raise UnexpectedResponse(f"unreadable hws:{expected} from the server: {exc.code}: {exc.message}") from None
    if root.tag != f"{_H}{expected}":
        raise UnexpectedResponse(f"expected hws:{expected} from the server, got {root.tag}")
    return _Reader(root, f"hws:{expected}")


def _state(reader: _Reader, tag: str, kind: type[ImportState] | type[RequestState]) -> Any:
    text = reader.required(tag)
    try:
        return kind(text)
    except ValueError:
        known = ", ".join(s.value for s in kind)
        raise reader.fail(f"{etree.QName(tag).localname} {text!r} is none of {known}") from None


def parse_import_status(data: bytes) -> ImportStatus:
    """Read an ``hws:ImportStatus`` document."""
    r = _root(data, "ImportStatus")
    digest = r.required(f"{_H}PackageDigest")
    algorithm, _, hex_digest = digest.partition(":")
    if algorithm != "sha-256" or not hex_digest:
        raise r.fail(f"PackageDigest {digest!r} is not sha-256:<hex>")
    problems = tuple(
        PackageProblem(
            code=r.required(f"{_H}Code", item),
            severity=r.required(f"{_H}Severity", item),
            message=r.optional(f"{_H}Message", item) or "",
            entry=r.optional(f"{_H}EntryName", item),
            xml_path=r.optional(f"{_H}XMLPath", item),
            line=r.integer(f"{_H}LineNumber", r.optional(f"{_H}LineNumber", item)),
        )
        for item in r.root.iterfind(f"{_H}ProblemBag/{_H}Problem")
    )
    size = r.integer(f"{_H}PackageSize", r.required(f"{_H}PackageSize"))
    received = r.datetime(f"{_H}ReceivedDateTime", required=True)
    assert size is not None and received is not None
    return ImportStatus(
        import_id=r.required(f"{_H}ImportIdentifier"),
        status=_state(r, f"{_H}ImportStatusCategory", ImportState),
        received_at=received,
        package_size=size,
        package_sha256=hex_digest.lower(),
        processed_at=r.datetime(f"{_H}ProcessedDateTime"),
        transaction=r.optional(f"{_H}TransactionCategory"),
        office_reference=r.optional(f"{_H}OfficeReference"),
        srn=r.optional(f"{_C}RecordIdentifier"),
        problems=problems,
    )


def parse_request_status(data: bytes) -> RequestStatus:
    """Read an ``hws:ServiceRequestStatus`` document."""
    r = _root(data, "ServiceRequestStatus")
    last_change = r.datetime(f"{_H}LastChangeDateTime", required=True)
    assert last_change is not None
    expected = r.root.find(f"{_H}ExpectedPublication")
    return RequestStatus(
        import_id=r.required(f"{_H}ImportIdentifier"),
        srn=r.required(f"{_C}RecordIdentifier"),
        status=_state(r, f"{_H}ProcessingStatusCategory", RequestState),
        transaction=r.required(f"{_H}TransactionCategory"),
        office=r.required(f"{_H}OfficeCode"),
        last_change=last_change,
        office_reference=r.optional(f"{_H}OfficeReference"),
        irn=r.optional(f"{_C}InternationalRegistrationNumber"),
        expected_publication=r.date(f"{_C}PublicationDate", expected) if expected is not None else None,
        regularization_deadline=r.date(f"{_H}RegularizationDeadlineDate"),
    )
