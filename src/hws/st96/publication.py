"""The weekly publication (spec §7): the Hague Bulletin and the confidential copies.

A pure writer: plain frozen dataclasses in, a ZIP out. No web framework, no database;
the service selects what a week publishes, fills :class:`Registration` and
:class:`Decision` (see :func:`registration_from_service_request` and
:func:`decision_from_service_request`) and calls :func:`write_bulletin` once per ISO
week and :func:`write_confidential_copy` once per examining office.

What is written (ST.96 V6_0, ``HagueIBToOfficeTransaction_V6_0.xsd``)
-----------------------------------------------------------------------

Bulletin — ``HagueBulletin_<yyyyww>.xml``::

    dgn:HagueIBToOfficeTransaction com:st96Version="V6_0"
      dgn:HagueBulletin
        dgn:HagueBulletinTransactionHeader
          dgn:HagueBulletinNumber              yyyy/ww
          com:PublicationDate
          com:TransactionTotalQuantity
          dgn:HagueBulletinTransactionCountBag  one count per non-empty category
        dgn:HagueBulletinTransactionBag
          dgn:HagueRegistrationBag/dgn:HagueRegistration …
          dgn:HagueRefusalBag/dgn:HagueRefusal …                   (HagueRefusalRequest)
          dgn:HagueRefusalWithdrawalBag/dgn:HagueRefusalWithdrawal … (HagueRefusalWithdrawalRequest)
          dgn:HagueGrantProtectionBag/dgn:HagueGrantProtection …   (HagueGrantProtectionRequest)
          dgn:HagueInvalidationBag/dgn:HagueInvalidation …         (HagueInvalidationRequest)
          dgn:HagueCancellationNonPaymentBag/…                     (HagueCancellationNonPaymentRequest)

Other decision kinds (division, second-part fee payable/paid, generic communications)
have no bag in ``HagueBulletinTransactionBagType``: they are left out and listed in
:attr:`PublicationSummary.skipped`.

Confidential copy — ``HagueConfidentialCopy_<office>_<yyyyww>.xml``. ST.96 has no
element named "confidential copy", but the IB → Office side of the same schema has the
construct for copies sent to one office: ``dgn:HagueIBToOfficeBag`` with a
``dgn:HagueIBTransactionHeader`` (``com:ReceivingOfficeCode`` = the examining office,
``com:PublicationIdentifier`` = ``yyyy/ww``, ``com:RecordNotificationDate`` = the
publication date, category ``Office copy``) and ``dgn:HagueOfficeCopyBag/
dgn:HagueRegistrationBag`` holding the same ``dgn:HagueRegistration`` elements as the
bulletin (deferred ones carry ``dgn:DefermentExpiryDate``).

Empty weeks. Every bag of the schema needs at least one transaction and the bulletin's
transaction bag at least one bag, so an empty issue cannot be valid ST.96. Nothing is
written then and :class:`NothingToPublish` is raised: the service records the week as
closed with no issue (and builds no copy for an office with nothing that week).

ZIP layout. The XML first, then ``images/<IRN folder>/<file>`` sorted by name, the IRN
folder being the IRN without its slash (``DM/200000`` → ``DM200000``), as WIPO's FTP
bulletin does ("directories named after the IRN"). Views are named after their view
identifier (``images/DM200000/1.1.jpg``; ``<design>-<view>`` when identifiers repeat
within a registration); decision documents (since 2023 WIPO ships them beside the
reproductions) ``images/DM200000/<DocumentKindCategory>_<office>_<SRN>.pdf``. Each
``dgn:View/com:FileName`` holds the full entry path. In V6_0 only ``dgn:HagueGrantProtection``
can reference its document (``com:DocumentIncludedBag``); the others are found by folder.

Deterministic and bounded: entries in a fixed order, fixed timestamps (the publication
date at 00:00), permissions and compression (XML deflated at zlib's default level; images stored); the
XML streamed with :class:`lxml.etree.xmlfile`, one transaction subtree at a time; blobs
copied in 1 MiB chunks and their sha256 checked on the way. Memory does not grow with
the size of the issue: registrations may come as a :class:`RegistrationStream` (in IRN
order, one at a time); each one's image entries are named while its XML is written and
queued in a temporary file; the ZIP is written here (the bytes :mod:`zipfile` would
write) with each central-directory record packed into a temporary file, not kept as a
``ZipInfo``; the summary holds totals and a manifest digest, not one record per entry.
"""

from __future__ import annotations

import hashlib
import heapq
import re
import shutil
import struct
import tempfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import PurePosixPath
from typing import IO, Any, BinaryIO

from lxml import etree

from hws.domain.calendar_rules import add_months, deferment_expiry
from hws.domain.weeks import Week
from hws.st96 import safexml
from hws.st96.namespaces import COM, DGN, XSI

ST96_VERSION = "V6_0"
SCHEMA_LOCATION = (
    f"{DGN} https://www.wipo.int/standards/XMLSchema/ST96/{ST96_VERSION}/Design/Flatten/"
    f"HagueIBToOfficeTransaction_{ST96_VERSION}.xsd"
)
NSMAP = {"com": COM, "dgn": DGN, "xsi": XSI}
#: the transactions are streamed as separate subtrees, each declaring what it uses
_SUBTREE_NSMAP = {"com": COM, "dgn": DGN}

#: an international registration runs five years from its date (1999 Act, Art. 17(1))
INITIAL_TERM_MONTHS = 60
CHUNK = 1024 * 1024
IRN_PATTERN = re.compile(r"^DM/(\d{6})$")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_FILE_MODE = 0o100644 << 16

MEDIA_SUFFIX = {"image/jpeg": ".jpg", "image/png": ".png", "application/pdf": ".pdf"}
VIEW_FORMAT = {"image/jpeg": "JPEG", "image/png": "PNG"}
DOCUMENT_FORMAT = {"application/pdf": "PDF", "image/jpeg": "JPEG", "image/png": "PNG"}


class PublicationError(ValueError):
    """The inputs cannot be published; the message says which and why."""


class NothingToPublish(PublicationError):
    """The issue would hold no transaction, which ST.96 cannot express; nothing was written."""


# --------------------------------------------------------------------------- decision kinds


@dataclass(frozen=True)
class DecisionCategory:
    """Where one Office → IB decision kind goes in the bulletin."""

    request: str  # the Office → IB element, e.g. HagueRefusalRequest
    element: str  # the IB → Office element, e.g. HagueRefusal
    bag: str
    header: str  # dgn:HagueBulletinTransactionCategory
    needs_decision_date: bool = True


#: in the order of ``HagueBulletinTransactionBagType``
DECISION_CATEGORIES: tuple[DecisionCategory, ...] = (
    DecisionCategory("HagueRefusalRequest", "HagueRefusal", "HagueRefusalBag", "Refusal"),
    DecisionCategory("HagueRefusalWithdrawalRequest", "HagueRefusalWithdrawal", "HagueRefusalWithdrawalBag", "Refusal withdrawal"),
    DecisionCategory("HagueGrantProtectionRequest", "HagueGrantProtection", "HagueGrantProtectionBag", "Grant protection"),
    DecisionCategory("HagueInvalidationRequest", "HagueInvalidation", "HagueInvalidationBag", "Invalidation"),
    DecisionCategory(
        "HagueCancellationNonPaymentRequest",
        "HagueCancellationNonPayment",
        "HagueCancellationNonPaymentBag",
        "Cancellation non payment",
        needs_decision_date=False,
    ),
)
_CATEGORY_BY_KIND = {c.request: c for c in DECISION_CATEGORIES} | {c.element: c for c in DECISION_CATEGORIES}


def bulletin_category(kind: str) -> DecisionCategory | None:
    """The bulletin category of a decision kind (``HagueRefusalRequest`` or ``HagueRefusal``), or None."""
    return _CATEGORY_BY_KIND.get(kind)


# --------------------------------------------------------------------------- input model


def _tuple(value: Any) -> tuple[Any, ...]:
    if value is None:
        return ()
    if isinstance(value, (str, bytes)):
        return (value,)
    return tuple(value)


@dataclass(frozen=True)
class Party:
    """A holder (the applicant at registration) or a representative."""

    name: str
    person: bool = False
    legal_entity_name: str | None = None
    nationality: str | None = None
    entitlement_nationality: str | None = None
    entitlement_domicile: str | None = None
    contracting_party: str | None = None
    address_lines: tuple[str, ...] = ()
    city: str | None = None
    postal_code: str | None = None
    country: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "address_lines", _tuple(self.address_lines))


@dataclass(frozen=True)
class View:
    identifier: str
    view_type: str | None  # dgn:ViewTypeCategory (Perspective, Front, …) or None
    file_name: str  # the path in the office's package (kept for reference, not published)
    sha256: str  # the blob holding the reproduction
    media_type: str  # image/jpeg or image/png


@dataclass(frozen=True)
class Priority:
    country: str
    filing_date: date
    number: str | None = None


@dataclass(frozen=True)
class Design:
    identifier: str
    product: str
    locarno_classes: tuple[str, ...]  # "06-01" (class-subclass) or "06"
    views: tuple[View, ...]
    description: str | None = None
    priorities: tuple[Priority, ...] = ()
    locarno_edition: str = "14"

    def __post_init__(self) -> None:
        object.__setattr__(self, "locarno_classes", _tuple(self.locarno_classes))
        object.__setattr__(self, "views", _tuple(self.views))
        object.__setattr__(self, "priorities", _tuple(self.priorities))


@dataclass(frozen=True)
class Designation:
    office: str
    act: str | None = None  # Act1999, Act1960 or None


@dataclass(frozen=True)
class Registration:
    """An international registration as the register holds it."""

    irn: str  # DM/nnnnnn
    srn: str  # the service request it came from: com:RecordIdentifier
    registration_date: date
    filing_date: date
    expected_publication_date: date
    holders: tuple[Party, ...]
    designations: tuple[Designation, ...]  # a bare office code is accepted too
    designs: tuple[Design, ...]
    language: str = "en"  # com:FilingLanguageCode
    deferment_expiry_date: date | None = None  # set when publication is deferred
    fee_calculation_date: date | None = None  # default: the filing date
    expiry_date: date | None = None  # default: five years after the registration date
    office_reference: str | None = None
    applicant_reference: str | None = None
    representatives: tuple[Party, ...] = ()

    def __post_init__(self) -> None:
        _check_irn(self.irn)
        object.__setattr__(self, "holders", _tuple(self.holders))
        object.__setattr__(self, "designs", _tuple(self.designs))
        object.__setattr__(self, "representatives", _tuple(self.representatives))
        object.__setattr__(
            self,
            "designations",
            tuple(Designation(d) if isinstance(d, str) else d for d in _tuple(self.designations)),
        )
        if not self.holders:
            raise PublicationError(f"{self.irn}: a registration needs at least one holder")
        if not self.designs:
            raise PublicationError(f"{self.irn}: a registration needs at least one design")
        if not self.designations:
            raise PublicationError(f"{self.irn}: a registration needs at least one designation")

    @property
    def designated_offices(self) -> tuple[str, ...]:
        return tuple(d.office for d in self.designations)

    @property
    def deferred(self) -> bool:
        return self.deferment_expiry_date is not None


@dataclass(frozen=True)
class DecisionDocument:
    file_name: str  # the path in the office's package
    sha256: str
    media_type: str  # application/pdf
    kind: str | None = None  # com:DocumentKindCategory, e.g. REFUSAL_DECISION


@dataclass(frozen=True)
class Grounds:
    texts: tuple[str, ...]
    categories: tuple[str, ...] = ()  # dgn:DecisionGroundsCategory values

    def __post_init__(self) -> None:
        object.__setattr__(self, "texts", _tuple(self.texts))
        object.__setattr__(self, "categories", _tuple(self.categories))


@dataclass(frozen=True)
class Decision:
    """An office's decision recorded in the register against ``irn``."""

    irn: str
    srn: str  # com:RecordIdentifier
    kind: str  # the Office → IB element, e.g. HagueRefusalRequest
    office: str  # com:RecordNotifyingOfficeCode
    recorded_date: date  # com:InternationalRecordingDate
    decision_date: date | None = None
    effective_date: date | None = None
    affected_designs: tuple[str, ...] | None = None  # None: all designs
    document: DecisionDocument | None = None
    office_reference: str | None = None
    grounds: tuple[Grounds, ...] = ()
    remedies: tuple[str, ...] = ()
    amendment: str | None = None
    comment: str | None = None
    prior_refusal: bool | None = None  # grants: dgn:priorRefusalIndicator
    language: str = "en"

    def __post_init__(self) -> None:
        _check_irn(self.irn)
        if self.affected_designs is not None:
            object.__setattr__(self, "affected_designs", _tuple(self.affected_designs))
        object.__setattr__(self, "grounds", _tuple(self.grounds))
        object.__setattr__(self, "remedies", _tuple(self.remedies))

    @property
    def category(self) -> DecisionCategory | None:
        return bulletin_category(self.kind)


# --------------------------------------------------------------------------- output summary


@dataclass(frozen=True)
class PublicationSummary:
    """What was written. Per-entry details are in the ZIP itself (its central directory);
    the summary keeps totals and :attr:`manifest_sha256`, so its size does not grow with
    the number of entries (a 10,000-registration week has 100,000 of them)."""

    week: str  # yyyyww
    number: str  # yyyy/ww
    publication_date: date
    xml_entry: str
    office: str | None  # the examining office of a confidential copy
    registrations: tuple[str, ...]  # IRNs, in document order
    decisions: tuple[tuple[str, int], ...]  # (bulletin category, count) in document order
    entry_count: int  # ZIP entries, the XML included
    entry_bytes: int  # their total size, uncompressed
    manifest_sha256: str  # see :func:`manifest_sha256`
    skipped: tuple[tuple[str, str, str], ...] = ()  # (irn, kind, reason)

    @property
    def transaction_total(self) -> int:
        return len(self.registrations) + sum(n for _, n in self.decisions)


def manifest_line(name: str, sha256: str) -> bytes:
    """One entry of the manifest: ``<sha-256 of its bytes>  <entry name>\\n`` (``sha256sum``'s format)."""
    return f"{sha256}  {name}\n".encode()


def manifest_sha256(archive: Any) -> str:
    """The sha-256 of an issue's manifest — :func:`manifest_line` for every entry, in ZIP
    order — read back from a :class:`zipfile.ZipFile`: equal to the summary's
    :attr:`PublicationSummary.manifest_sha256` when the ZIP holds what was written."""
    digest = hashlib.sha256()
    for info in archive.infolist():
        entry = hashlib.sha256()
        with archive.open(info) as src:
            while chunk := src.read(CHUNK):
                entry.update(chunk)
        digest.update(manifest_line(info.filename, entry.hexdigest()))
    return digest.hexdigest()


@dataclass(frozen=True)
class RegistrationStream:
    """Registrations produced one at a time, **in IRN order**, their number known up front.

    Pass one instead of a list when a week is too large to hold in memory: the writer
    needs the count before the first registration (the header comes first) and never
    holds more than one registration. ``count`` is how many ``produce()`` yields — for
    a confidential copy, how many designate the office. The writer checks the order and
    the count as it goes and raises :class:`PublicationError` on a mismatch (the output
    is then incomplete: write to a temporary file, as the publisher does).
    """

    count: int
    produce: Callable[[], Iterable[Registration]]

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[Registration]:
        return iter(self.produce())

    @property
    def transaction_total(self) -> int:
        return len(self.registrations) + sum(n for _, n in self.decisions)


# --------------------------------------------------------------------------- names


def _check_irn(irn: str) -> None:
    if not isinstance(irn, str) or not IRN_PATTERN.match(irn):
        raise PublicationError(f"{irn!r} is not an international registration number (DM/nnnnnn)")


def irn_folder(irn: str) -> str:
    """``DM/200000`` → ``DM200000``: the folder of a registration's files in the ZIP."""
    _check_irn(irn)
    return irn.replace("/", "")


def bulletin_entry_name(week: str) -> str:
    return f"HagueBulletin_{Week.parse(week).id}.xml"


def confidential_copy_entry_name(week: str, office: str) -> str:
    return f"HagueConfidentialCopy_{_office(office)}_{Week.parse(week).id}.xml"


def _office(code: str) -> str:
    value = (code or "").strip().upper()
    if not re.fullmatch(r"[A-Z]{2}", value):
        raise PublicationError(f"office code must be two letters (WIPO ST.3), got {code!r}")
    return value


def _safe(text: str, fallback: str) -> str:
    value = _SAFE_NAME.sub("_", text.strip()).strip("._") or fallback
    return value[:80]


def _suffix(media_type: str, file_name: str) -> str:
    return MEDIA_SUFFIX.get(media_type) or PurePosixPath(file_name).suffix.lower() or ".bin"


@dataclass(frozen=True)
class _Blob:
    name: str  # the ZIP entry
    sha256: str


def _view_entries(reg: Registration) -> dict[tuple[int, int], _Blob]:
    """ZIP entry of every view: ``images/<IRN folder>/<view id>.<ext>``, unique per registration."""
    folder = f"images/{irn_folder(reg.irn)}"
    plain = [
        ((i, j), _safe(v.identifier, f"{i + 1}.{j + 1}"), d, v)
        for i, d in enumerate(reg.designs)
        for j, v in enumerate(d.views)
    ]
    stems = [stem for _, stem, _, _ in plain]
    unique = len(set(stems)) == len(stems)
    out: dict[tuple[int, int], _Blob] = {}
    used: set[str] = set()
    for (i, j), stem, design, view in plain:
        if not unique:
            stem = f"{_safe(design.identifier, str(i + 1))}-{stem}"
        name = f"{folder}/{stem}{_suffix(view.media_type, view.file_name)}"
        n = 1
        while name in used:  # identifiers that still collide after sanitizing
            n += 1
            name = f"{folder}/{stem}~{n}{_suffix(view.media_type, view.file_name)}"
        used.add(name)
        out[(i, j)] = _Blob(name, view.sha256)
    return out


def _document_entry(dec: Decision) -> _Blob | None:
    doc = dec.document
    if doc is None:
        return None
    label = _safe(doc.kind or (dec.category.element if dec.category else dec.kind), "DECISION")
    name = f"images/{irn_folder(dec.irn)}/{label}_{_office(dec.office)}_{_safe(dec.srn, 'record')}"
    return _Blob(name + _suffix(doc.media_type, doc.file_name), doc.sha256)


# --------------------------------------------------------------------------- XML pieces


def _c(tag: str) -> str:
    return f"{{{COM}}}{tag}"


def _d(tag: str) -> str:
    return f"{{{DGN}}}{tag}"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _sub(parent: etree._Element, tag: str, text: Any = None, **attrs: str) -> etree._Element:
    el = etree.SubElement(parent, tag)
    if text is not None:
        el.text = _text(text)
    for key, value in attrs.items():
        el.set(_c(key), value)
    return el


def _opt(parent: etree._Element, tag: str, value: Any, **attrs: str) -> None:
    if value is not None and value != "":
        _sub(parent, tag, value, **attrs)


def _party(parent: etree._Element, tag: str, party: Party, seq: int, *, holder: bool) -> None:
    el = _sub(parent, tag, sequenceNumber=str(seq))
    if holder:  # dgn:ApplicantType
        _opt(el, _c("NationalityCode"), party.nationality)
        _opt(el, _c("LegalEntityName"), party.legal_entity_name)
        if party.entitlement_nationality or party.entitlement_domicile:
            ent = _sub(el, _d("Entitlement"))
            _opt(ent, _c("EntitlementNationalityCode"), party.entitlement_nationality)
            if party.entitlement_domicile:
                _sub(_sub(ent, _c("EntitlementDomiciled")), _c("EntitlementDomiciledCode"), party.entitlement_domicile)
        _opt(el, _d("ApplicantContractingParty"), party.contracting_party)
        _contact(el, party)
    else:  # com:RepresentativeType: the choice comes first
        _contact(el, party)
        _opt(el, _c("NationalityCode"), party.nationality)


def _contact(parent: etree._Element, party: Party) -> None:
    contact = _sub(parent, _c("Contact"))
    name = _sub(contact, _c("Name"))
    if party.person:
        _sub(_sub(name, _c("PersonName")), _c("PersonFullName"), party.name)
    else:
        _sub(_sub(name, _c("OrganizationName")), _c("OrganizationStandardName"), party.name)
    if party.address_lines and party.country:
        addr = _sub(_sub(_sub(contact, _c("PostalAddressBag")), _c("PostalAddress")), _c("PostalStructuredAddress"))
        for n, line in enumerate(party.address_lines, start=1):
            _sub(addr, _c("AddressLineText"), line, sequenceNumber=str(n))
        _opt(addr, _c("CityName"), party.city)
        _sub(addr, _c("CountryCode"), party.country)
        _opt(addr, _c("PostalCode"), party.postal_code)
    elif party.address_lines:
        addr = _sub(_sub(contact, _c("PostalAddressBag")), _c("PostalAddress"))
        for n, line in enumerate(party.address_lines, start=1):
            _sub(addr, _c("PostalAddressText"), line, sequenceNumber=str(n))


def _locarno(parent: etree._Element, design: Design) -> None:
    bag = _sub(parent, _c("LocarnoClassificationBag"))
    _sub(bag, _c("LocarnoClassificationEdition"), design.locarno_edition)
    classes = design.locarno_classes or ()
    if not classes:
        raise PublicationError(f"design {design.identifier}: no Locarno class")
    for item in classes:
        klass, _, subclass = str(item).partition("-")
        cls = _sub(bag, _c("LocarnoClassification"))
        _sub(cls, _c("LocarnoClass"), klass.strip().zfill(2))
        if subclass.strip():
            _sub(_sub(cls, _c("LocarnoSubclassBag")), _c("LocarnoSubclass"), subclass.strip().zfill(2))


def _registration_element(reg: Registration, views: Mapping[tuple[int, int], _Blob]) -> etree._Element:
    el = etree.Element(_d("HagueRegistration"), nsmap=_SUBTREE_NSMAP)
    _sub(el, _c("InternationalRegistrationNumber"), reg.irn)
    _sub(el, _c("RecordIdentifier"), reg.srn)
    _sub(el, _c("InternationalRegistrationDate"), reg.registration_date)
    _sub(el, _c("InternationalFilingDate"), reg.filing_date)
    _sub(el, _c("FeeCalculationDate"), reg.fee_calculation_date or reg.filing_date)
    _sub(el, _c("FilingLanguageCode"), reg.language)
    _opt(el, _c("OfficeReferenceIdentifier"), reg.office_reference)
    _opt(el, _c("ApplicantFileReference"), reg.applicant_reference)
    dbag = _sub(el, _d("DesignatedCountryBag"))
    for des in reg.designations:
        dc = _sub(dbag, _d("DesignatedCountry"))
        _sub(dc, _c("DesignatedCountryCode"), des.office)
        _opt(dc, _d("HagueAgreementActCategory"), des.act)
    _sub(el, _c("ExpiryDate"), reg.expiry_date or add_months(reg.registration_date, INITIAL_TERM_MONTHS))
    _sub(el, _d("DesignTotalQuantity"), len(reg.designs))
    _opt(el, _d("DefermentExpiryDate"), reg.deferment_expiry_date)
    hbag = _sub(el, _d("HolderBag"))
    for n, holder in enumerate(reg.holders, start=1):
        _party(hbag, _d("Holder"), holder, n, holder=True)
    if reg.representatives:
        rbag = _sub(el, _c("RepresentativeBag"))
        for n, rep in enumerate(reg.representatives, start=1):
            _party(rbag, _c("Representative"), rep, n, holder=False)
    designs = _sub(el, _d("HagueDesignBag"))
    for i, design in enumerate(reg.designs):
        if not design.views:
            raise PublicationError(f"{reg.irn} design {design.identifier}: no view")
        de = _sub(designs, _d("HagueDesign"))
        _sub(de, _d("DesignIdentifier"), design.identifier)
        _sub(de, _d("ViewTotalQuantity"), len(design.views))
        _locarno(de, design)
        _sub(_sub(de, _c("ProductDescriptionTextBag")), _c("ProductDescriptionText"), design.product, languageCode=reg.language)
        if design.description:
            _sub(_sub(de, _d("DesignDescriptionTextBag")), _d("DesignDescriptionText"), design.description, languageCode=reg.language)
        if design.priorities:
            pbag = _sub(de, _d("PriorityBag"))
            for p in design.priorities:
                pe = _sub(pbag, _d("Priority"))
                _sub(pe, _c("PriorityCountryCode"), p.country)
                if p.number:
                    _sub(_sub(pe, _c("ApplicationNumber")), _c("ApplicationNumberText"), p.number)
                _sub(pe, _c("PriorityApplicationFilingDate"), p.filing_date)
        vbag = _sub(de, _d("ViewBag"))
        for j, view in enumerate(design.views):
            ve = _sub(vbag, _d("View"))
            _sub(ve, _c("FileName"), views[(i, j)].name)
            _sub(ve, _d("ViewIdentifier"), view.identifier)
            _opt(ve, _d("ViewFileFormatCategory"), VIEW_FORMAT.get(view.media_type))
            _opt(ve, _d("ViewTypeCategory"), view.view_type)
    return el


def _affected(parent: etree._Element, designs: tuple[str, ...] | None) -> None:
    el = _sub(parent, _d("AffectedDesign"))
    if not designs:
        _sub(el, _d("AllDesignsIndicator"), True)
    else:
        bag = _sub(el, _d("DesignIdentifierBag"))
        for ident in designs:
            _sub(bag, _d("DesignIdentifier"), ident)


def _decision_element(dec: Decision, cat: DecisionCategory, document: _Blob | None) -> etree._Element:
    if cat.needs_decision_date and dec.decision_date is None:
        raise PublicationError(f"{dec.irn} {dec.kind} (record {dec.srn}): the decision date is required")
    el = etree.Element(_d(cat.element), nsmap=_SUBTREE_NSMAP)
    if cat.element == "HagueGrantProtection" and dec.prior_refusal is not None:
        el.set(_d("priorRefusalIndicator"), _text(dec.prior_refusal))
    _sub(el, _c("InternationalRegistrationNumber"), dec.irn)
    _sub(el, _c("RecordIdentifier"), dec.srn)
    _sub(el, _c("InternationalRecordingDate"), dec.recorded_date)
    _sub(el, _c("RecordNotifyingOfficeCode"), _office(dec.office))
    lang = dec.language
    if cat.element == "HagueCancellationNonPayment":
        _affected(el, dec.affected_designs)
        _opt(el, _c("CommentText"), dec.comment, languageCode=lang)
        return el
    _opt(el, _c("OfficeReferenceIdentifier"), dec.office_reference)
    if cat.element == "HagueRefusalWithdrawal":
        _affected(el, dec.affected_designs)
        _sub(el, _c("DecisionDate"), dec.decision_date)
        _opt(el, _c("DecisionEffectiveDate"), dec.effective_date)
        _opt(el, _d("Amendment"), dec.amendment)
    elif cat.element == "HagueRefusal":
        _sub(el, _c("DecisionDate"), dec.decision_date)
        _affected(el, dec.affected_designs)
        if dec.grounds:
            gbag = _sub(el, _d("DecisionGroundsBag"))
            for g in dec.grounds:
                ge = _sub(gbag, _d("DecisionGrounds"))
                for text in g.texts or ("-",):
                    _sub(ge, _d("DecisionGroundsText"), text, languageCode=lang)
                for category in g.categories:
                    _sub(ge, _d("DecisionGroundsCategory"), category)
        _remedies(el, dec)
    elif cat.element == "HagueGrantProtection":
        _sub(el, _c("DecisionDate"), dec.decision_date)
        _opt(el, _c("DecisionEffectiveDate"), dec.effective_date)
        _affected(el, dec.affected_designs)
        _opt(el, _d("Amendment"), dec.amendment)
        if document is not None and dec.document is not None:
            doc = _sub(_sub(el, _c("DocumentIncludedBag")), _c("DocumentIncluded"))
            _sub(doc, _c("DocumentName"), dec.document.kind or PurePosixPath(document.name).name)
            _sub(doc, _c("FileName"), document.name)
            _opt(doc, _c("DocumentFormatCategory"), DOCUMENT_FORMAT.get(dec.document.media_type))
            _opt(doc, _c("DocumentKindCategory"), dec.document.kind)
    elif cat.element == "HagueInvalidation":
        _sub(el, _c("DecisionDate"), dec.decision_date)
        _opt(el, _c("DecisionEffectiveDate"), dec.effective_date)
        _affected(el, dec.affected_designs)
        _remedies(el, dec)
    _opt(el, _c("CommentText"), dec.comment, languageCode=lang)
    return el


def _remedies(el: etree._Element, dec: Decision) -> None:
    if dec.remedies:
        bag = _sub(el, _d("DecisionRemedyTextBag"))
        for text in dec.remedies:
            _sub(bag, _d("DecisionRemedyText"), text, languageCode=dec.language)


# --------------------------------------------------------------------------- ZIP writing
#
# The ZIP is written here rather than with :mod:`zipfile`, which keeps a ``ZipInfo`` per
# entry in memory until it writes the central directory (≈ 300 bytes each, 30 MiB for
# 100,000 entries). The bytes are exactly those ``zipfile.ZipFile(out, "w",
# allowZip64=True)`` + ``open(info, "w", force_zip64=True)`` wrote for these entries
# (Python 3.11's zipfile; pinned by tests/st96/test_publication.py::test_pinned_bytes and
# checked against zipfile by test_zip_bytes_are_zipfiles): a local header with a ZIP64
# extra field (sizes filled in by seeking back once the entry is written, so no data
# descriptor), the data, and at the end one central directory record per entry —
# ZIP64 fields only past zipfile's limit of 2**31 - 1 — then the ZIP64 end records when
# there are more than 65,535 entries or the directory lies past that limit, and the end
# record. Each central directory record is packed as soon as its entry is written and
# kept in a temporary file until the end: memory per entry is nil.

_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")
_CENTRAL_RECORD = struct.Struct("<4s4B4HL2L5H2L")
_ZIP64_EXTRA = struct.Struct("<HHQQ")  # local headers: tag, size, file size, compressed size
_END_RECORD = struct.Struct("<4s4H2LH")
_END_RECORD64 = struct.Struct("<4sQ2H2L4Q")
_END_LOCATOR64 = struct.Struct("<4sLQL")
_ZIP64_LIMIT = (1 << 31) - 1  # zipfile's threshold for ZIP64 fields (not 2**32 - 1)
_ZIP_FILECOUNT_LIMIT = (1 << 16) - 1
_ZIP64_VERSION = 45  # "version needed": every entry has a ZIP64 local header
_UNIX = 3
_STORED, _DEFLATED = 0, 8
_UTF8_NAME = 0x800


class _EntryWriter:
    """The data of one ZIP entry: counted, CRC-32, sha-256, compressed when asked."""

    def __init__(self, fp: IO[bytes], compress: bool) -> None:
        self.fp = fp
        self.compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15) if compress else None
        self.size = 0
        self.compressed = 0
        self.crc = 0
        self.digest = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.size += len(data)
        self.digest.update(data)
        self.crc = zlib.crc32(data, self.crc)
        if self.compressor is not None:
            data = self.compressor.compress(data)
            self.compressed += len(data)
        self.fp.write(data)
        return len(data)

    def flush(self) -> None:  # lxml may call it
        pass

    def finish(self) -> None:
        if self.compressor is not None:
            tail = self.compressor.flush()
            self.compressed += len(tail)
            self.fp.write(tail)
        else:
            self.compressed = self.size


class _ZipWriter:
    """A ZIP written front to back into a seekable ``fp`` positioned at 0 (see above)."""

    def __init__(self, fp: IO[bytes], day: date) -> None:
        if not 1980 <= day.year <= 2107:
            raise PublicationError(f"{day}: a ZIP timestamp holds years 1980-2107")
        self.fp = fp
        self.dosdate = (day.year - 1980) << 9 | day.month << 5 | day.day
        self.dostime = 0  # 00:00:00
        self.end = 0  # where the next entry starts
        self.count = 0
        self.total = 0  # uncompressed bytes
        self.manifest = hashlib.sha256()
        self.directory = tempfile.TemporaryFile(prefix="hws-publication-cd-")

    def close(self) -> None:
        self.directory.close()

    def _local_header(self, name: bytes, flags: int, method: int, crc: int, size: int, compressed: int) -> bytes:
        head = _LOCAL_HEADER.pack(
            b"PK\x03\x04", _ZIP64_VERSION, 0, flags, method, self.dostime, self.dosdate, crc,
            0xFFFFFFFF, 0xFFFFFFFF, len(name), _ZIP64_EXTRA.size,
        )  # fmt: skip
        return head + name + _ZIP64_EXTRA.pack(1, _ZIP64_EXTRA.size - 4, size, compressed)

    def entry(self, entry_name: str, *, compress: bool) -> _EntryWriter:
        """Start an entry; write its data to the returned writer, then :meth:`done`."""
        if "\x00" in entry_name:
            raise PublicationError(f"{entry_name!r}: NUL in a ZIP entry name")
        try:
            name, flags = entry_name.encode("ascii"), 0
        except UnicodeEncodeError:
            name, flags = entry_name.encode("utf-8"), _UTF8_NAME
        self._current = (entry_name, name, flags, _DEFLATED if compress else _STORED, self.end)
        self.fp.seek(self.end)
        self.fp.write(self._local_header(name, flags, self._current[3], 0, 0, 0))
        return _EntryWriter(self.fp, compress)

    def done(self, data: _EntryWriter) -> str:
        """Finish the entry ``data`` was written to; returns its sha-256 (hex)."""
        data.finish()
        entry_name, name, flags, method, offset = self._current
        self.end = self.fp.tell()
        self.fp.seek(offset)
        self.fp.write(self._local_header(name, flags, method, data.crc, data.size, data.compressed))
        self.fp.seek(self.end)

        big: list[int] = []
        size, compressed = data.size, data.compressed
        if size > _ZIP64_LIMIT or compressed > _ZIP64_LIMIT:
            big += [size, compressed]
            size = compressed = 0xFFFFFFFF
        if offset > _ZIP64_LIMIT:
            big.append(offset)
            offset = 0xFFFFFFFF
        extra = struct.pack(f"<HH{len(big)}Q", 1, 8 * len(big), *big) if big else b""
        self.directory.write(
            _CENTRAL_RECORD.pack(
                b"PK\x01\x02", _ZIP64_VERSION, _UNIX, _ZIP64_VERSION, 0, flags, method, self.dostime, self.dosdate,
                data.crc, compressed, size, len(name), len(extra), 0, 0, 0, _FILE_MODE, offset,
            )  # fmt: skip
            + name
            + extra
        )
        sha256 = data.digest.hexdigest()
        self.count += 1
        self.total += data.size
        self.manifest.update(manifest_line(entry_name, sha256))
        return sha256

    def finish(self) -> None:
        """The central directory and the end records."""
        start = self.end
        self.fp.seek(start)
        self.directory.seek(0)
        shutil.copyfileobj(self.directory, self.fp, 64 * 1024)
        end = start + self.directory.tell()
        count, size, offset = self.count, end - start, start
        if count > _ZIP_FILECOUNT_LIMIT or offset > _ZIP64_LIMIT or size > _ZIP64_LIMIT:
            self.fp.write(_END_RECORD64.pack(b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, size, offset))
            self.fp.write(_END_LOCATOR64.pack(b"PK\x06\x07", 0, end, 1))
            count, size, offset = min(count, 0xFFFF), min(size, 0xFFFFFFFF), min(offset, 0xFFFFFFFF)
        self.fp.write(_END_RECORD.pack(b"PK\x05\x06", 0, 0, count, count, size, offset, 0))
        self.fp.flush()


def _copy_blob(zf: _ZipWriter, blob: _Blob, open_blob: Callable[[str], BinaryIO]) -> None:
    with open_blob(blob.sha256) as src:
        sink = zf.entry(blob.name, compress=False)
        while chunk := src.read(CHUNK):
            sink.write(chunk)
    got = zf.done(sink)
    if got != blob.sha256.lower():
        raise PublicationError(f"{blob.name}: the blob {blob.sha256} reads back as {got}; refusing to publish it")


_BLOB_RECORD = struct.Struct("<HH")


class _Blobs:
    """The files an issue copies after its XML, in entry order (sorted by name).

    Each registration's views are named while its XML is written (:meth:`views`) and
    queued in a temporary file, not in memory; registrations come in IRN order and the
    IRN folder is a fixed-length prefix, so the queue is already sorted. At the end it is
    merged with the decisions' documents (few, held in memory)."""

    def __init__(self, documents: Iterable[_Blob]) -> None:
        self.documents = sorted(documents, key=lambda b: b.name)
        names = [b.name for b in self.documents]
        dupes = sorted({a for a, b in zip(names, names[1:]) if a == b})
        if dupes:
            raise PublicationError(f"two files would share the entry name(s) {', '.join(dupes)}")
        self.by_folder: dict[str, set[str]] = {}
        for name in names:
            self.by_folder.setdefault(name.rsplit("/", 1)[0], set()).add(name)
        self.queue = tempfile.TemporaryFile(prefix="hws-publication-blobs-")

    def close(self) -> None:
        self.queue.close()

    def views(self, reg: Registration) -> Mapping[tuple[int, int], _Blob]:
        """The entry of each view of ``reg`` (see :func:`_view_entries`), queued for copying."""
        views = _view_entries(reg)
        clash = self.by_folder.get(f"images/{irn_folder(reg.irn)}", set()).intersection(b.name for b in views.values())
        if clash:
            raise PublicationError(f"two files would share the entry name(s) {', '.join(sorted(clash))}")
        for blob in sorted(views.values(), key=lambda b: b.name):
            name, sha = blob.name.encode(), blob.sha256.encode()
            self.queue.write(_BLOB_RECORD.pack(len(name), len(sha)) + name + sha)
        return views

    def _queued(self) -> Iterator[_Blob]:
        self.queue.flush()
        self.queue.seek(0)
        read = self.queue.read
        while head := read(_BLOB_RECORD.size):
            n, m = _BLOB_RECORD.unpack(head)
            yield _Blob(read(n).decode(), read(m).decode())

    def __iter__(self) -> Iterator[_Blob]:
        previous = ""
        for blob in heapq.merge(self._queued(), self.documents, key=lambda b: b.name):
            if blob.name <= previous:  # cannot happen with unique, IRN-ordered registrations
                raise PublicationError(f"entry {blob.name} out of order after {previous}")
            previous = blob.name
            yield blob


@dataclass(frozen=True)
class _Written:
    entry_count: int
    entry_bytes: int
    manifest_sha256: str


def _write_zip(
    out: BinaryIO,
    xml_name: str,
    day: date,
    write_xml: Callable[[etree.xmlfile, _Blobs], None],
    documents: Iterable[_Blob],
    open_blob: Callable[[str], BinaryIO],
) -> _Written:
    """The XML entry (``write_xml`` queues the views as it goes), then every file, sorted by name."""
    seekable = _seekable(out)
    target: IO[bytes] = out if seekable else tempfile.TemporaryFile(prefix="hws-publication-")
    blobs = _Blobs(documents)
    zf = _ZipWriter(target, day)
    try:
        sink = zf.entry(xml_name, compress=True)
        with etree.xmlfile(sink, encoding="UTF-8") as xf:
            xf.write_declaration()
            write_xml(xf, blobs)
        sink.write(b"\n")
        zf.done(sink)
        for blob in blobs:
            _copy_blob(zf, blob, open_blob)
        zf.finish()
        if not seekable:
            target.seek(0)
            shutil.copyfileobj(target, out, CHUNK)
    finally:
        zf.close()
        blobs.close()
        if target is not out:
            target.close()
    return _Written(zf.count, zf.total, zf.manifest.hexdigest())


def _seekable(out: BinaryIO) -> bool:
    try:
        return bool(out.seekable()) and out.tell() == 0
    except (AttributeError, OSError, ValueError):
        return False


def _root(xf: etree.xmlfile) -> Any:
    return xf.element(
        _d("HagueIBToOfficeTransaction"),
        {_c("st96Version"): ST96_VERSION, f"{{{XSI}}}schemaLocation": SCHEMA_LOCATION},
        nsmap=NSMAP,
    )


def _nl(xf: etree.xmlfile) -> None:
    xf.write("\n")


# --------------------------------------------------------------------------- the writers


def _week(week: str, publication_date: date) -> Week:
    try:
        parsed = Week.parse(week)
    except ValueError as exc:
        raise PublicationError(str(exc)) from None
    if not parsed.contains(publication_date):
        raise PublicationError(f"publication date {publication_date} is not in week {parsed.id}")
    return parsed


def _sorted_registrations(registrations: Iterable[Registration]) -> list[Registration]:
    regs = sorted(registrations, key=lambda r: (r.irn, r.srn))
    irns = [r.irn for r in regs]
    if len(set(irns)) != len(irns):
        raise PublicationError(f"a registration is given twice: {sorted({i for i in irns if irns.count(i) > 1})}")
    return regs


def _in_irn_order(stream: Iterable[Registration]) -> Iterator[Registration]:
    """``stream`` as it comes, refusing a registration that is not after the previous one."""
    previous = ""
    for reg in stream:
        if reg.irn == previous:
            raise PublicationError(f"a registration is given twice: ['{reg.irn}']")
        if reg.irn < previous:
            raise PublicationError(f"registrations out of IRN order: {reg.irn} after {previous}")
        previous = reg.irn
        yield reg


def _registrations(registrations: Iterable[Registration], wanted: Callable[[Registration], bool]) -> tuple[int, Iterator[Registration]]:
    """How many registrations will be written and, lazily, all of them in IRN order
    (those not ``wanted`` included, for the caller to skip). A list is sorted here; a
    :class:`RegistrationStream` is taken as it comes (its count is of the wanted ones)."""
    if isinstance(registrations, RegistrationStream):
        return registrations.count, _in_irn_order(registrations)
    regs = _sorted_registrations(registrations)
    return sum(1 for r in regs if wanted(r)), iter(regs)


def _decision_key(d: Decision) -> tuple[Any, ...]:
    return (d.recorded_date, d.irn, d.srn, d.office, d.kind)


def write_bulletin(
    out: BinaryIO,
    *,
    week: str,
    publication_date: date,
    registrations: Iterable[Registration],
    decisions: Iterable[Decision] = (),
    open_blob: Callable[[str], BinaryIO],
) -> PublicationSummary:
    """Write the bulletin of ``week`` (``yyyyww``) to ``out`` as a ZIP.

    ``registrations``: those whose publication date falls in the week (the caller
    selects them), in any order, or a :class:`RegistrationStream` in IRN order (memory
    then stays flat whatever their number); ``decisions``: those recorded in the week —
    kinds the bulletin has no bag for are left out and reported in
    :attr:`PublicationSummary.skipped`. ``open_blob(sha256)`` opens a stored file for
    reading. ``out`` receives the bytes; when it is not seekable the ZIP is built in a
    temporary file first, so the bytes are the same either way. Raises
    :class:`NothingToPublish` (nothing written) for an empty week and
    :class:`PublicationError` for inconsistent inputs.
    """
    wk = _week(week, publication_date)
    count, regs = _registrations(registrations, lambda r: True)
    by_category: dict[str, list[Decision]] = {c.element: [] for c in DECISION_CATEGORIES}
    skipped: list[tuple[str, str, str]] = []
    for dec in sorted(decisions, key=_decision_key):
        cat = dec.category
        if cat is None:
            skipped.append((dec.irn, dec.kind, "no bag for this kind in HagueBulletinTransactionBag (ST.96 V6_0)"))
        else:
            by_category[cat.element].append(dec)
    present = [(c, by_category[c.element]) for c in DECISION_CATEGORIES if by_category[c.element]]
    if not count and not present:
        raise NothingToPublish(
            f"week {wk.id}: no registration or decision to publish; ST.96 has no empty bulletin"
        )

    doc_names = {id(d): _document_entry(d) for _, decs in present for d in decs}
    counts = ([("Registration", count)] if count else []) + [(c.header, len(decs)) for c, decs in present]
    total = sum(n for _, n in counts)
    irns: list[str] = []

    def write_xml(xf: etree.xmlfile, blobs: _Blobs) -> None:
        with _root(xf):
            _nl(xf)
            with xf.element(_d("HagueBulletin")):
                _nl(xf)
                header = etree.Element(_d("HagueBulletinTransactionHeader"), nsmap=_SUBTREE_NSMAP)
                _sub(header, _d("HagueBulletinNumber"), wk.bulletin_number)
                _sub(header, _c("PublicationDate"), publication_date)
                _sub(header, _c("TransactionTotalQuantity"), total)
                cbag = _sub(header, _d("HagueBulletinTransactionCountBag"))
                for category, n in counts:
                    count_el = _sub(cbag, _d("HagueBulletinTransactionCount"))
                    _sub(count_el, _d("HagueBulletinTransactionCategory"), category)
                    _sub(count_el, _c("TransactionTotalQuantity"), n)
                xf.write(header, pretty_print=True)
                with xf.element(_d("HagueBulletinTransactionBag")):
                    _nl(xf)
                    if count:
                        _registration_bag(xf, regs, count, blobs, irns)
                    else:
                        _none_left(regs)
                    for cat, decs in present:
                        with xf.element(_d(cat.bag)):
                            _nl(xf)
                            for dec in decs:
                                xf.write(_decision_element(dec, cat, doc_names[id(dec)]), pretty_print=True)
                        _nl(xf)
                _nl(xf)
            _nl(xf)

    xml_name = bulletin_entry_name(wk.id)
    documents = [b for b in doc_names.values() if b is not None]
    written = _write_zip(out, xml_name, publication_date, write_xml, documents, open_blob)
    return PublicationSummary(
        week=wk.id,
        number=wk.bulletin_number,
        publication_date=publication_date,
        xml_entry=xml_name,
        office=None,
        registrations=tuple(irns),
        decisions=tuple((c.header, len(decs)) for c, decs in present),
        entry_count=written.entry_count,
        entry_bytes=written.entry_bytes,
        manifest_sha256=written.manifest_sha256,
        skipped=tuple(skipped),
    )


def _registration_bag(
    xf: etree.xmlfile, regs: Iterator[Registration], count: int, blobs: _Blobs, irns: list[str]
) -> None:
    """One registration at a time: its entry names, its XML, its views queued; then the
    check that there were ``count`` (announced in the header, already written)."""
    with xf.element(_d("HagueRegistrationBag")):
        _nl(xf)
        for reg in regs:
            if len(irns) == count:
                raise PublicationError(f"more registrations than the {count} announced (from {reg.irn})")
            xf.write(_registration_element(reg, blobs.views(reg)), pretty_print=True)
            irns.append(reg.irn)
        if len(irns) != count:
            raise PublicationError(f"{len(irns)} registrations instead of the {count} announced")
    _nl(xf)


def _none_left(regs: Iterator[Registration]) -> None:
    extra = next(regs, None)
    if extra is not None:
        raise PublicationError(f"more registrations than the 0 announced (from {extra.irn})")


def write_confidential_copy(
    out: BinaryIO,
    *,
    week: str,
    office: str,
    publication_date: date,
    registrations: Iterable[Registration],
    open_blob: Callable[[str], BinaryIO],
) -> PublicationSummary:
    """Write the confidential copy of ``week`` for the examining ``office`` to ``out``.

    ``registrations``: those recorded in the week (deferred ones included), in any
    order, or a :class:`RegistrationStream` in IRN order whose count is of those
    designating ``office``; only those designating ``office`` are written — the others
    are left out (reported in :attr:`PublicationSummary.skipped`), never copied to an
    office they do not concern. Raises :class:`NothingToPublish` (nothing written) when
    none designates ``office``.
    """
    wk = _week(week, publication_date)
    code = _office(office)
    count, source = _registrations(registrations, lambda r: code in r.designated_offices)
    if not count:
        raise NothingToPublish(f"week {wk.id}: no registration designating {code}; ST.96 has no empty office copy")
    skipped: list[tuple[str, str, str]] = []
    irns: list[str] = []

    def designating() -> Iterator[Registration]:
        for reg in source:
            if code in reg.designated_offices:
                yield reg
            else:
                skipped.append((reg.irn, "HagueRegistration", f"does not designate {code}"))

    def write_xml(xf: etree.xmlfile, blobs: _Blobs) -> None:
        with _root(xf):
            _nl(xf)
            with xf.element(_d("HagueIBToOfficeBag")):
                _nl(xf)
                header = etree.Element(_d("HagueIBTransactionHeader"), nsmap=_SUBTREE_NSMAP)
                _sub(header, _c("ReceivingOfficeCode"), code)
                _sub(header, _c("PublicationIdentifier"), wk.bulletin_number)
                _sub(header, _c("RecordNotificationDate"), publication_date)
                _sub(header, _c("TransactionTotalQuantity"), count)
                count_el = _sub(_sub(header, _d("HagueIBTransactionCountBag")), _d("HagueIBTransactionCount"))
                _sub(count_el, _d("HagueIBTransactionCategory"), "Office copy")
                _sub(count_el, _c("TransactionTotalQuantity"), count)
                xf.write(header, pretty_print=True)
                with xf.element(_d("HagueOfficeCopyBag")):
                    _nl(xf)
                    _registration_bag(xf, designating(), count, blobs, irns)
                _nl(xf)
            _nl(xf)

    xml_name = confidential_copy_entry_name(wk.id, code)
    written = _write_zip(out, xml_name, publication_date, write_xml, (), open_blob)
    return PublicationSummary(
        week=wk.id,
        number=wk.bulletin_number,
        publication_date=publication_date,
        xml_entry=xml_name,
        office=code,
        registrations=tuple(irns),
        decisions=(),
        entry_count=written.entry_count,
        entry_bytes=written.entry_bytes,
        manifest_sha256=written.manifest_sha256,
        skipped=tuple(skipped),
    )


# --------------------------------------------------------------------------- from the service's records


def _get(record: Any, key: str) -> Any:
    if isinstance(record, Mapping):
        return record.get(key)
    return getattr(record, key, None)


def _as_date(value: Any) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _files_by_path(files: Iterable[Any]) -> dict[str, Any]:
    return {str(_get(f, "path")): f for f in files}


def _ns(tag: str) -> str:
    prefix, _, local = tag.partition(":")
    return f"{{{COM if prefix == 'com' else DGN}}}{local}"


def _find(el: etree._Element | None, path: str) -> etree._Element | None:
    if el is None:
        return None
    for step in path.split("/"):
        el = el.find(_ns(step))
        if el is None:
            return None
    return el


def _findtext(el: etree._Element | None, path: str) -> str | None:
    found = _find(el, path)
    if found is None or found.text is None:
        return None
    return found.text.strip() or None


def _source_tree(source_xml: bytes | None) -> etree._Element | None:
    if not source_xml:
        return None
    return safexml.parse(source_xml).getroot()


def _transaction_element(root: etree._Element | None) -> etree._Element | None:
    bag = _find(root, "dgn:HagueOfficeToIBBag")
    if bag is None:
        return None
    for child in bag:
        if isinstance(child.tag, str):
            return child
    return None


def _party_from_xml(el: etree._Element) -> Party | None:
    contact = _find(el, "com:Contact")
    name_el = _find(contact, "com:Name")
    person, name = False, None
    if name_el is not None:
        name = _findtext(name_el, "com:OrganizationName/com:OrganizationStandardName")
        if name is None:
            pn = _find(name_el, "com:PersonName")
            if pn is not None:
                person = True
                name = _findtext(pn, "com:PersonFullName") or " ".join(
                    t.strip() for t in pn.itertext() if t.strip()
                ) or None
        if name is None:
            name = _findtext(name_el, "com:EntityName")
    legal = _findtext(el, "com:LegalEntityName")
    name = name or legal
    if not name:
        return None
    ent = _find(el, "dgn:Entitlement")
    structured = _find(contact, "com:PostalAddressBag/com:PostalAddress/com:PostalStructuredAddress")
    if structured is not None:
        lines = tuple((t.text or "").strip() for t in structured.findall(_c("AddressLineText")) if (t.text or "").strip())
        city = _findtext(structured, "com:CityName")
        country = _findtext(structured, "com:CountryCode")
        postal = _findtext(structured, "com:PostalCode")
    else:
        address = _find(contact, "com:PostalAddressBag/com:PostalAddress")
        lines = tuple(
            (t.text or "").strip() for t in (address.findall(_c("PostalAddressText")) if address is not None else [])
            if (t.text or "").strip()
        )
        city = country = postal = None
    return Party(
        name=name,
        person=person,
        legal_entity_name=legal,
        nationality=_findtext(el, "com:NationalityCode"),
        entitlement_nationality=_findtext(ent, "com:EntitlementNationalityCode"),
        entitlement_domicile=_findtext(ent, "com:EntitlementDomiciled/com:EntitlementDomiciledCode"),
        contracting_party=_findtext(el, "dgn:ApplicantContractingParty"),
        address_lines=lines,
        city=city,
        postal_code=postal,
        country=country,
    )


def _priorities_from_xml(design: etree._Element | None) -> tuple[Priority, ...]:
    out = []
    bag = _find(design, "dgn:PriorityBag")
    for p in bag.findall(_d("Priority")) if bag is not None else []:
        country, day = _findtext(p, "com:PriorityCountryCode"), _findtext(p, "com:PriorityApplicationFilingDate")
        if country and day:
            out.append(Priority(country, date.fromisoformat(day[:10]), _findtext(p, "com:ApplicationNumber/com:ApplicationNumberText")))
    return tuple(out)


def _deferment_expiry(data: Mapping[str, Any], filing: date, designs: Sequence[Design]) -> date | None:
    deferment = data.get("deferment") or {}
    if not deferment.get("requested"):
        return None
    period = deferment.get("period")
    priority_dates = [p.filing_date for d in designs for p in d.priorities]
    priority_dates += [d for p in data.get("priorities") or [] if (d := _as_date(p.get("filing_date")))]
    base = min([filing, *priority_dates])
    # the rule examination used for the expected publication date (hws.domain.calendar_rules)
    return deferment_expiry(base, period if isinstance(period, int) else None, deferment.get("unit"))


def registration_from_service_request(
    data: Mapping[str, Any],
    files: Iterable[Any],
    source_xml: bytes | None,
    *,
    irn: str,
    srn: str,
    registration_date: date,
    expected_publication_date: date,
    filing_date: date | None = None,
) -> Registration:
    """A :class:`Registration` from what the service stores for a registered application.

    ``data``: the SR's JSON (:func:`hws.store.service_requests.bibliographic_data`);
    ``files``: its stored files (objects or mappings with ``path``, ``sha256``,
    ``media_type``); ``source_xml``: the office's ST.96 XML, parsed with
    :func:`hws.st96.safexml.parse` for holders, representatives, designations' Acts,
    design descriptions and priorities (without it, holders are names only).
    """
    stored = _files_by_path(files)
    root = _source_tree(source_xml)
    txn = _transaction_element(root)
    filing = filing_date or _as_date(data.get("filing_date")) or _as_date(data.get("request_date"))
    if filing is None:
        raise PublicationError(f"{irn}: no filing date")

    xml_designs: dict[str, etree._Element] = {}
    bag = _find(txn, "dgn:HagueDesignBag")
    for de in bag.findall(_d("HagueDesign")) if bag is not None else []:
        ident = _findtext(de, "dgn:DesignIdentifier")
        if ident is not None:
            xml_designs.setdefault(ident, de)

    designs = []
    for n, d in enumerate(data.get("designs") or [], start=1):
        ident = str(d.get("identifier") or n)
        de = xml_designs.get(ident)
        views = []
        for m, v in enumerate(d.get("views") or [], start=1):
            path = str(v.get("file"))
            f = stored.get(path)
            if f is None:
                raise PublicationError(f"{irn} design {ident}: the view file {path!r} is not among the stored files")
            views.append(
                View(
                    identifier=str(v.get("identifier") or f"{ident}.{m}"),
                    view_type=v.get("view_type"),
                    file_name=path,
                    sha256=str(_get(f, "sha256")),
                    media_type=str(_get(f, "media_type") or ""),
                )
            )
        edition = _findtext(de, "com:LocarnoClassificationBag/com:LocarnoClassificationEdition") or "14"
        description = _findtext(de, "dgn:DesignDescriptionTextBag/dgn:DesignDescriptionText")
        designs.append(
            Design(
                identifier=ident,
                product=str(d.get("product") or _findtext(de, "com:ProductDescriptionTextBag/com:ProductDescriptionText") or "-"),
                locarno_classes=tuple(d.get("locarno_classes") or ()),
                views=tuple(views),
                description=description,
                priorities=_priorities_from_xml(de),
                locarno_edition=edition,
            )
        )

    acts: dict[str, str | None] = {}
    dbag = _find(txn, "dgn:DesignatedCountryBag")
    for dc in dbag.findall(_d("DesignatedCountry")) if dbag is not None else []:
        code = _findtext(dc, "com:DesignatedCountryCode")
        if code:
            acts.setdefault(code, _findtext(dc, "dgn:HagueAgreementActCategory"))
    offices = list(dict.fromkeys(data.get("designated_offices") or acts))
    designations = tuple(Designation(code, acts.get(code)) for code in offices)

    holders: list[Party] = []
    abag = _find(txn, "dgn:ApplicantBag")
    for app in abag.findall(_d("Applicant")) if abag is not None else []:
        party = _party_from_xml(app)
        if party is not None:
            holders.append(party)
    if not holders:
        holders = [Party(name=str(name)) for name in data.get("applicants") or []]
    representatives = []
    for rep in txn.findall(_c("Representative")) if txn is not None else []:
        party = _party_from_xml(rep)
        if party is not None:
            representatives.append(party)

    language = _findtext(txn, "com:ApplicationLanguageCode") or str(data.get("language") or "en")
    return Registration(
        irn=irn,
        srn=srn,
        registration_date=registration_date,
        filing_date=filing,
        expected_publication_date=expected_publication_date,
        holders=tuple(holders),
        designations=designations,
        designs=tuple(designs),
        language=language,
        deferment_expiry_date=_deferment_expiry(data, filing, designs),
        office_reference=data.get("office_reference"),
        applicant_reference=_findtext(txn, "com:ApplicantFileReference"),
        representatives=tuple(representatives),
    )


def decision_from_service_request(
    data: Mapping[str, Any],
    files: Iterable[Any],
    source_xml: bytes | None,
    *,
    srn: str,
    recorded_date: date,
    irn: str | None = None,
) -> Decision:
    """A :class:`Decision` from what the service stores for a recorded decision.

    The kind, office, IRN, dates, affected designs and office reference come from
    ``data``; the decision document is the first stored PDF (``files``); grounds,
    remedies, amendment, comment and the prior-refusal indicator from ``source_xml``.
    """
    kind = str(data.get("transaction"))
    target = irn or data.get("irn")
    if not target:
        raise PublicationError(f"record {srn}: the decision names no international registration")
    txn = _transaction_element(_source_tree(source_xml))
    document = None
    docs = {str(d.get("file")): d for d in data.get("documents") or []}
    for f in sorted(files, key=lambda f: str(_get(f, "path"))):
        path = str(_get(f, "path"))
        media = str(_get(f, "media_type") or "")
        if media == "application/pdf" and (path in docs or not docs):
            kind_category = (docs.get(path) or {}).get("kind") or _get(f, "kind")
            document = DecisionDocument(path, str(_get(f, "sha256")), media, kind_category)
            break
    grounds = []
    gbag = _find(txn, "dgn:DecisionGroundsBag")
    for g in gbag.findall(_d("DecisionGrounds")) if gbag is not None else []:
        texts = tuple((t.text or "").strip() for t in g.findall(_d("DecisionGroundsText")) if (t.text or "").strip())
        categories = tuple((t.text or "").strip() for t in g.findall(_d("DecisionGroundsCategory")) if (t.text or "").strip())
        if texts:
            grounds.append(Grounds(texts, categories))
    rbag = _find(txn, "dgn:DecisionRemedyTextBag")
    remedies = tuple(
        (t.text or "").strip() for t in (rbag.findall(_d("DecisionRemedyText")) if rbag is not None else []) if (t.text or "").strip()
    )
    prior = txn.get(_d("priorRefusalIndicator")) if txn is not None else None
    language = "en"
    if txn is not None:
        for el in txn.iter():
            if isinstance(el.tag, str) and el.get(_c("languageCode")):
                language = el.get(_c("languageCode"))
                break
    affected = data.get("affected_designs")
    return Decision(
        irn=str(target),
        srn=srn,
        kind=kind,
        office=str(data.get("office")),
        recorded_date=recorded_date,
        decision_date=_as_date(data.get("decision_date")),
        effective_date=_as_date(data.get("decision_effective_date")),
        affected_designs=tuple(str(a) for a in affected) if affected else None,
        document=document,
        office_reference=data.get("office_reference"),
        grounds=tuple(grounds),
        remedies=remedies,
        amendment=_findtext(txn, "dgn:Amendment"),
        comment=_findtext(txn, "com:CommentText"),
        prior_refusal=None if prior is None else prior.strip() in ("true", "1"),
        language=language,
    )


__all__ = [
    "DECISION_CATEGORIES",
    "Decision",
    "DecisionCategory",
    "DecisionDocument",
    "Design",
    "Designation",
    "Grounds",
    "NothingToPublish",
    "Party",
    "Priority",
    "PublicationError",
    "PublicationSummary",
    "Registration",
    "RegistrationStream",
    "View",
    "bulletin_category",
    "bulletin_entry_name",
    "confidential_copy_entry_name",
    "decision_from_service_request",
    "irn_folder",
    "manifest_line",
    "manifest_sha256",
    "registration_from_service_request",
    "write_bulletin",
    "write_confidential_copy",
]
