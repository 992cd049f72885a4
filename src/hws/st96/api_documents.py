"""The API's own XML documents (namespace ``urn:hws:xml:api:v1``): each writer (the
service) beside its reader (the office kit), RFC 9457 problem details in XML, and the XSDs
that describe them. A reader raises :class:`DocumentError` naming what does not follow
``hws-api-v1.xsd``.

Writer (the service) → reader (the office kit):

- ``hws:PingResponse``: :func:`ping_response` → :func:`read_ping_response`;
- ``hws:ImportStatus``: :func:`import_status` → :func:`read_import_status`;
- ``hws:ServiceRequestStatus``: :func:`request_status` → :func:`read_request_status`;
- ``hws:PublicationList``: :func:`publication_list` → :func:`read_publication_list`;
- RFC 9457 ``problem``: :func:`problem_document` → :func:`read_problem_document`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from importlib import resources
from typing import cast

from lxml import etree

from hws.domain.lifecycle import ImportState, Status
from hws.st96 import safexml
from hws.st96.namespaces import COM, HWS, PROBLEM

_H = f"{{{HWS}}}"
_C = f"{{{COM}}}"
_P = f"{{{PROBLEM}}}"
#: the problem namespace as the default one (lxml-stubs type nsmap keys as str; lxml takes None)
_DEFAULT_PROBLEM_NAMESPACE = cast(Mapping[str, str], {None: PROBLEM})


def _serialize(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


#: Characters XML 1.0 cannot carry (control characters, surrogates, U+FFFE/U+FFFF).
_NOT_XML = re.compile(r"[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _child(parent: etree._Element, tag: str, text: str | None) -> etree._Element:
    element = etree.SubElement(parent, tag)
    # Texts may echo what a client sent (a ZIP entry name, a query parameter, a path):
    # what XML cannot carry becomes U+FFFD rather than failing the whole document.
    element.text = None if text is None else _NOT_XML.sub("\ufffd", text)
    return element


def _datetime(value: datetime) -> str:
    return value.isoformat(timespec="seconds").replace("+00:00", "Z")


def ping_response(message: str, client_id: str, office: str, when: datetime) -> bytes:
    root = etree.Element(f"{_H}PingResponse", nsmap={"hws": HWS})
    _child(root, f"{_H}Message", message)
    _child(root, f"{_H}ClientIdentifier", client_id)
    _child(root, f"{_H}OfficeCode", office)
    _child(root, f"{_H}ResponseDateTime", _datetime(when))
    return _serialize(root)


@dataclass(frozen=True)
class PackageProblem:
    code: str
    severity: str
    message: str
    entry: str | None = None
    path: str | None = None
    line: int | None = None


@dataclass(frozen=True)
class ImportStatusView:
    import_id: str
    status: ImportState | str  # written as given; read back as an ImportState
    received_at: datetime
    size: int
    sha256: str
    processed_at: datetime | None = None
    transaction: str | None = None
    office_reference: str | None = None
    srn: str | None = None
    problems: Sequence[PackageProblem] = ()


def import_status(view: ImportStatusView) -> bytes:
    root = etree.Element(f"{_H}ImportStatus", nsmap={"hws": HWS, "com": COM})
    _child(root, f"{_H}ImportIdentifier", view.import_id)
    _child(root, f"{_H}ImportStatusCategory", view.status)
    _child(root, f"{_H}ReceivedDateTime", _datetime(view.received_at))
    _child(root, f"{_H}PackageSize", str(view.size))
    _child(root, f"{_H}PackageDigest", f"sha-256:{view.sha256}")
    if view.processed_at is not None:
        _child(root, f"{_H}ProcessedDateTime", _datetime(view.processed_at))
    if view.transaction:
        _child(root, f"{_H}TransactionCategory", view.transaction)
    if view.office_reference:
        _child(root, f"{_H}OfficeReference", view.office_reference)
    if view.srn:
        _child(root, f"{_C}RecordIdentifier", view.srn)
    if view.problems:
        bag = etree.SubElement(root, f"{_H}ProblemBag")
        for problem in view.problems:
            item = etree.SubElement(bag, f"{_H}Problem")
            _child(item, f"{_H}Code", problem.code)
            _child(item, f"{_H}Severity", problem.severity)
            _child(item, f"{_H}Message", problem.message)
            if problem.entry:
                _child(item, f"{_H}EntryName", problem.entry)
            if problem.path:
                _child(item, f"{_H}XMLPath", problem.path)
            if problem.line:
                _child(item, f"{_H}LineNumber", str(problem.line))
    return _serialize(root)


@dataclass(frozen=True)
class RequestStatusView:
    import_id: str
    srn: str
    status: Status | str  # written as given; read back as a Status
    transaction: str
    office: str
    last_change: datetime
    office_reference: str | None = None
    irn: str | None = None
    expected_publication: date | None = None
    regularization_deadline: date | None = None


def request_status(view: RequestStatusView) -> bytes:
    root = etree.Element(f"{_H}ServiceRequestStatus", nsmap={"hws": HWS, "com": COM})
    _child(root, f"{_H}ImportIdentifier", view.import_id)
    _child(root, f"{_C}RecordIdentifier", view.srn)
    _child(root, f"{_H}ProcessingStatusCategory", view.status)
    _child(root, f"{_H}TransactionCategory", view.transaction)
    _child(root, f"{_H}OfficeCode", view.office)
    if view.office_reference:
        _child(root, f"{_H}OfficeReference", view.office_reference)
    if view.irn:
        _child(root, f"{_C}InternationalRegistrationNumber", view.irn)
    if view.expected_publication is not None:
        expected = etree.SubElement(root, f"{_H}ExpectedPublication")
        _child(expected, f"{_C}PublicationDate", view.expected_publication.isoformat())
    if view.regularization_deadline is not None:
        _child(root, f"{_H}RegularizationDeadlineDate", view.regularization_deadline.isoformat())
    _child(root, f"{_H}LastChangeDateTime", _datetime(view.last_change))
    return _serialize(root)


@dataclass(frozen=True)
class ProblemItem:
    code: str
    detail: str
    pointer: str | None = None


def problem_document(
    *,
    type_uri: str,
    title: str,
    status: int,
    code: str,
    detail: str | None = None,
    instance: str | None = None,
    errors: Sequence[ProblemItem] = (),
) -> bytes:
    root = etree.Element(f"{_P}problem", nsmap=_DEFAULT_PROBLEM_NAMESPACE)
    _child(root, f"{_P}type", type_uri)
    _child(root, f"{_P}title", title)
    _child(root, f"{_P}status", str(status))
    if detail is not None:
        _child(root, f"{_P}detail", detail)
    if instance is not None:
        _child(root, f"{_P}instance", instance)
    _child(root, f"{_P}code", code)
    if errors:
        bag = etree.SubElement(root, f"{_P}errors")
        for item in errors:
            entry = etree.SubElement(bag, f"{_P}i")
            _child(entry, f"{_P}code", item.code)
            _child(entry, f"{_P}detail", item.detail)
            if item.pointer is not None:
                _child(entry, f"{_P}pointer", item.pointer)
    return _serialize(root)


@dataclass(frozen=True)
class PublicationView:
    week: str
    bulletin_number: str
    publication_date: date
    size: int
    sha256: str
    registrations: int
    decisions: int
    published_at: datetime
    url: str


def publication_list(kind: str, items: Sequence[PublicationView], office: str | None = None) -> bytes:
    root = etree.Element(f"{_H}PublicationList", nsmap={"hws": HWS, "com": COM})
    _child(root, f"{_H}PublicationCategory", kind)
    if office:
        _child(root, f"{_H}OfficeCode", office)
    for item in items:
        entry = etree.SubElement(root, f"{_H}Publication")
        _child(entry, f"{_H}WeekIdentifier", item.week)
        _child(entry, f"{_H}BulletinNumber", item.bulletin_number)
        _child(entry, f"{_C}PublicationDate", item.publication_date.isoformat())
        _child(entry, f"{_H}PackageSize", str(item.size))
        _child(entry, f"{_H}PackageDigest", f"sha-256:{item.sha256}")
        _child(entry, f"{_H}RegistrationCount", str(item.registrations))
        _child(entry, f"{_H}DecisionCount", str(item.decisions))
        _child(entry, f"{_H}PublishedDateTime", _datetime(item.published_at))
        _child(entry, f"{_H}DownloadURI", item.url)
    return _serialize(root)


# --------------------------------------------------------------------------- reading


class DocumentError(ValueError):
    """An API document that does not follow ``hws-api-v1.xsd``; the message says what."""


class _Reader:
    """Typed access to the children of one API document, with errors that say what is wrong."""

    def __init__(self, data: bytes, expected: str, namespace: str = _H, prefix: str = "hws") -> None:
        try:
            self.root = safexml.parse(data).getroot()
        except safexml.XMLRejected as exc:
            raise DocumentError(f"unreadable {prefix}:{expected} from the server: {exc.code}: {exc.message}") from None
        if self.root.tag != f"{namespace}{expected}":
            raise DocumentError(f"expected {prefix}:{expected} from the server, got {self.root.tag}")
        self.document = f"{prefix}:{expected}"

    def text(self, tag: str, parent: etree._Element | None = None) -> str | None:
        """The element's text as written (not stripped; ``""`` when empty), None when it is absent."""
        element = (self.root if parent is None else parent).find(tag)
        return None if element is None else element.text or ""

    def required_text(self, tag: str, parent: etree._Element | None = None) -> str:
        """:meth:`text` of an element the schema requires (an ``xs:string`` may be empty)."""
        value = self.text(tag, parent)
        if value is None:
            raise self.fail(f"{etree.QName(tag).localname} is missing")
        return value

    def fail(self, message: str) -> DocumentError:
        return DocumentError(f"unexpected {self.document} from the server: {message}")

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

    def timestamp(self, tag: str, parent: etree._Element | None = None) -> datetime:
        text = self.required(tag, parent)
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            raise self.fail(f"{etree.QName(tag).localname} {text!r} is not an ISO 8601 date-time") from None

    def optional_timestamp(self, tag: str) -> datetime | None:
        return self.timestamp(tag) if self.optional(tag) is not None else None

    def day(self, tag: str, parent: etree._Element | None = None) -> date | None:
        text = self.optional(tag, parent)
        if text is None:
            return None
        try:
            return date.fromisoformat(text[:10])
        except ValueError:
            raise self.fail(f"{etree.QName(tag).localname} {text!r} is not an ISO 8601 date") from None

    def integer(self, tag: str, text: str) -> int:
        try:
            return int(text)
        except ValueError:
            raise self.fail(f"{etree.QName(tag).localname} {text!r} is not a number") from None

    def sha256(self, tag: str, parent: etree._Element | None = None) -> str:
        digest = self.required(tag, parent)
        algorithm, _, hex_digest = digest.partition(":")
        if algorithm != "sha-256" or not hex_digest:
            raise self.fail(f"{etree.QName(tag).localname} {digest!r} is not sha-256:<hex>")
        return hex_digest.lower()

    def state(self, tag: str, kind: type[ImportState] | type[Status]) -> ImportState | Status:
        text = self.required(tag)
        try:
            return kind(text)
        except ValueError:
            known = ", ".join(s.value for s in kind)
            raise self.fail(f"{etree.QName(tag).localname} {text!r} is none of {known}") from None


@dataclass(frozen=True)
class PingView:
    """An ``hws:PingResponse`` read back; the texts as written, ``timestamp`` the
    ``ResponseDateTime`` as sent (what :func:`ping_response` wrote from its ``when``)."""

    message: str
    client_id: str
    office: str
    timestamp: str


def read_ping_response(data: bytes) -> PingView:
    """An ``hws:PingResponse`` back (what :func:`ping_response` wrote)."""
    r = _Reader(data, "PingResponse")
    return PingView(
        message=r.required_text(f"{_H}Message"),
        client_id=r.required_text(f"{_H}ClientIdentifier"),
        office=r.required_text(f"{_H}OfficeCode"),
        timestamp=r.required_text(f"{_H}ResponseDateTime"),
    )


def read_import_status(data: bytes) -> ImportStatusView:
    """An ``hws:ImportStatus`` document back (what :func:`import_status` wrote)."""
    r = _Reader(data, "ImportStatus")
    sha256 = r.sha256(f"{_H}PackageDigest")
    problems = tuple(
        PackageProblem(
            code=r.required(f"{_H}Code", item),
            severity=r.required(f"{_H}Severity", item),
            message=r.optional(f"{_H}Message", item) or "",
            entry=r.optional(f"{_H}EntryName", item),
            path=r.optional(f"{_H}XMLPath", item),
            line=r.integer(f"{_H}LineNumber", line) if (line := r.optional(f"{_H}LineNumber", item)) else None,
        )
        for item in r.root.iterfind(f"{_H}ProblemBag/{_H}Problem")
    )
    return ImportStatusView(
        import_id=r.required(f"{_H}ImportIdentifier"),
        status=r.state(f"{_H}ImportStatusCategory", ImportState),
        received_at=r.timestamp(f"{_H}ReceivedDateTime"),
        size=r.integer(f"{_H}PackageSize", r.required(f"{_H}PackageSize")),
        sha256=sha256,
        processed_at=r.optional_timestamp(f"{_H}ProcessedDateTime"),
        transaction=r.optional(f"{_H}TransactionCategory"),
        office_reference=r.optional(f"{_H}OfficeReference"),
        srn=r.optional(f"{_C}RecordIdentifier"),
        problems=problems,
    )


def read_request_status(data: bytes) -> RequestStatusView:
    """An ``hws:ServiceRequestStatus`` document back (what :func:`request_status` wrote)."""
    r = _Reader(data, "ServiceRequestStatus")
    expected = r.root.find(f"{_H}ExpectedPublication")
    return RequestStatusView(
        import_id=r.required(f"{_H}ImportIdentifier"),
        srn=r.required(f"{_C}RecordIdentifier"),
        status=r.state(f"{_H}ProcessingStatusCategory", Status),
        transaction=r.required(f"{_H}TransactionCategory"),
        office=r.required(f"{_H}OfficeCode"),
        last_change=r.timestamp(f"{_H}LastChangeDateTime"),
        office_reference=r.optional(f"{_H}OfficeReference"),
        irn=r.optional(f"{_C}InternationalRegistrationNumber"),
        expected_publication=r.day(f"{_C}PublicationDate", expected) if expected is not None else None,
        regularization_deadline=r.day(f"{_H}RegularizationDeadlineDate"),
    )


@dataclass(frozen=True)
class ProblemView:
    """An RFC 9457 problem document read back (what :func:`problem_document` wrote).

    Read as RFC 9457 asks of a consumer: a member that is absent is empty (``""``, or
    None for the optional ``detail``, ``instance``, a non-numeric ``status`` and an
    entry's ``pointer``); only a document that is not a problem at all is refused."""

    type_uri: str
    title: str
    status: int | None
    code: str
    detail: str | None = None
    instance: str | None = None
    errors: tuple[ProblemItem, ...] = ()


def read_problem_document(data: bytes) -> ProblemView:
    """An RFC 9457 ``problem`` (XML, namespace ``urn:ietf:rfc:7807``) back, texts as written."""
    r = _Reader(data, "problem", namespace=_P, prefix="problem")
    status = (r.text(f"{_P}status") or "").strip()
    return ProblemView(
        type_uri=r.text(f"{_P}type") or "",
        title=r.text(f"{_P}title") or "",
        status=int(status) if status.isdecimal() and status.isascii() else None,
        code=r.text(f"{_P}code") or "",
        detail=r.text(f"{_P}detail"),
        instance=r.text(f"{_P}instance"),
        errors=tuple(
            ProblemItem(r.text(f"{_P}code", item) or "", r.text(f"{_P}detail", item) or "", r.text(f"{_P}pointer", item))
            for item in r.root.iterfind(f"{_P}errors/{_P}i")
        ),
    )


@dataclass(frozen=True)
class PublicationListing:
    kind: str  # bulletin | confidential
    office: str | None
    items: tuple[PublicationView, ...]


def read_publication_list(data: bytes) -> PublicationListing:
    """An ``hws:PublicationList`` back (what :func:`publication_list` wrote), in its order."""
    r = _Reader(data, "PublicationList")
    items = []
    for entry in r.root.iterfind(f"{_H}Publication"):
        items.append(
            PublicationView(
                week=r.required(f"{_H}WeekIdentifier", entry),
                bulletin_number=r.required(f"{_H}BulletinNumber", entry),
                publication_date=r.day(f"{_C}PublicationDate", entry) or _missing(r, "PublicationDate"),
                size=r.integer(f"{_H}PackageSize", r.required(f"{_H}PackageSize", entry)),
                sha256=r.sha256(f"{_H}PackageDigest", entry),
                registrations=r.integer(f"{_H}RegistrationCount", r.required(f"{_H}RegistrationCount", entry)),
                decisions=r.integer(f"{_H}DecisionCount", r.required(f"{_H}DecisionCount", entry)),
                published_at=r.timestamp(f"{_H}PublishedDateTime", entry),
                url=r.required(f"{_H}DownloadURI", entry),
            )
        )
    return PublicationListing(r.required(f"{_H}PublicationCategory"), r.optional(f"{_H}OfficeCode"), tuple(items))


def _missing(reader: _Reader, name: str) -> date:
    raise reader.fail(f"{name} is missing")


@cache
def schema(name: str) -> etree.XMLSchema:
    """One of our shipped XSDs: ``hws-api-v1.xsd`` or ``problem-rfc9457.xsd``."""
    with resources.as_file(resources.files("hws.st96").joinpath("schemas", name)) as path:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
        return etree.XMLSchema(etree.parse(str(path), parser))
