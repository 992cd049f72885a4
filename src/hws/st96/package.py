"""The import package validator (spec §5): pure, total, and exhaustive.

:func:`validate_package` takes the bytes (or a path) of an Office → IB package and
returns a :class:`ValidationReport` listing every problem found — it never raises for
bad input. When the package is accepted the report also carries the
:class:`PackageContent` the service needs: transaction kind, sending office, office
reference, designs and their reproductions, designations, documents and their kinds.

Stages: ZIP safety (:mod:`hws.st96.zipsafe`) → layout (one XML, allowed file types,
magic bytes) → hardened XML parsing (:mod:`hws.st96.safexml`) → official XSD of the
declared version when installed (:mod:`hws.st96.schemaset`) → our structural rules
(:mod:`hws.st96.transactions`) → references between the XML and the files.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from os import PathLike
from pathlib import PurePosixPath
from typing import Any, BinaryIO

from lxml import etree
from pydantic import TypeAdapter

from hws.domain.calendar_rules import deferment_end
from hws.st96 import media as media_files
from hws.st96 import reading, safexml
from hws.st96.namespaces import COM, DGN
from hws.st96.problems import Location, Problem, Severity
from hws.st96.reading import DecisionDetails, Designation, DesignPriority, Party
from hws.st96.schemaset import SchemaError, SchemaSet, StructuralOnly
from hws.st96.transactions import (
    REPRODUCTION_SHEETS,
    ST96_VERSIONS,
    TransactionKind,
    document_rule,
)
from hws.st96.zipsafe import ZipLimits, read_zip

ROOT_TAG = f"{{{DGN}}}HagueOfficeToIBTransaction"
IRN_PATTERN = re.compile(r"^DM/\d{6}$")

#: file name suffix → (media type, problem code when the magic bytes disagree)
FILE_TYPES: dict[str, tuple[str, str]] = {
    ".pdf": ("application/pdf", "file-not-pdf"),
    ".jpg": ("image/jpeg", "file-not-jpeg"),
    ".jpeg": ("image/jpeg", "file-not-jpeg"),
    ".png": ("image/png", "file-not-png"),
}
IMAGE_TYPES = frozenset({"image/jpeg", "image/png"})

_FATAL_ZIP = frozenset({"zip-empty", "zip-not-a-zip", "zip-too-many-entries", "zip-too-large"})
_ENCODING_DECL = re.compile(rb"""^(?:\xef\xbb\xbf)?<\?xml[^>]*?\bencoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
_ELEMENT_START = re.compile(rb"<[A-Za-z_:\x80-\xff]")
_UTF8_NAMES = frozenset({"utf-8", "utf8"})


def c(name: str) -> str:
    return f"{{{COM}}}{name}"


def d(name: str) -> str:
    return f"{{{DGN}}}{name}"


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class View:
    identifier: str | None
    file: str
    view_type: str | None = None


@dataclass(frozen=True, slots=True)
class Design:
    identifier: str | None
    views: tuple[View, ...] = ()
    product: str | None = None
    locarno_classes: tuple[str, ...] = ()
    description: str | None = None
    locarno_edition: str | None = None
    #: the priorities claimed for this design (``dgn:HagueDesign/dgn:PriorityBag``)
    priorities: tuple[DesignPriority, ...] = ()


@dataclass(frozen=True, slots=True)
class Document:
    file: str
    kind: str | None
    media_type: str | None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Priority:
    country: str | None
    number: str | None
    filing_date: date | None


@dataclass(frozen=True, slots=True)
class Payment:
    mode: str | None
    amount: str | None
    currency: str | None
    reference: str | None
    identifier: str | None
    account: str | None


@dataclass(frozen=True, slots=True)
class Deferment:
    requested: bool
    period: int | None = None
    unit: str | None = None  # com:periodCategory, e.g. "In month"


#: the version of :meth:`PackageContent.to_json`'s form; records stored before it had
#: none (they lack parties, Acts, design and decision details: see :func:`with_details`)
RECORD_VERSION = 2


@dataclass(frozen=True)
class PackageContent:
    """What an accepted package says: read once at import, stored with its service
    request (:meth:`to_json`), read back by examination and publication (:meth:`from_json`)."""

    transaction: TransactionKind
    st96_version: str
    office: str
    office_reference: str | None
    xml_entry: str
    request_date: date | None = None
    #: decisions: the international registration concerned (DM/nnnnnn)
    irn: str | None = None
    generic_category: str | None = None
    decision_date: date | None = None
    decision_effective_date: date | None = None
    #: None when all designs are affected (or the transaction names none)
    affected_designs: tuple[str, ...] | None = None
    designs: tuple[Design, ...] = ()
    designated_offices: tuple[str, ...] = ()
    applicants: tuple[str, ...] = ()
    filing_date: date | None = None
    priorities: tuple[Priority, ...] = ()
    deferment: Deferment | None = None
    immediate_publication: bool | None = None
    payments: tuple[Payment, ...] = ()
    documents: tuple[Document, ...] = ()
    #: applications: the applicants (the holders once registered) and representatives
    holders: tuple[Party, ...] = ()
    representatives: tuple[Party, ...] = ()
    #: applications: every designated office with its Act
    designations: tuple[Designation, ...] = ()
    #: the application's language, or the decision's (its first ``com:languageCode``)
    language: str | None = None
    applicant_reference: str | None = None
    #: decisions: grounds, remedies, amendment, comment, prior-refusal indicator
    decision_details: DecisionDetails | None = None
    #: False for a record stored before :data:`RECORD_VERSION` (details not read yet)
    details_read: bool = True
    #: every file of the package by its entry name (the XML included)
    files: dict[str, bytes] = field(default_factory=dict, repr=False)

    def to_json(self) -> dict[str, Any]:
        """The stored form (JSON types; the files are stored apart, as blobs)."""
        data: dict[str, Any] = _RECORD.dump_python(self, mode="json", exclude={"files", "details_read"})
        data["record_version"] = RECORD_VERSION
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PackageContent:
        """A stored record back (``files`` empty); an older record without a version
        comes back with ``details_read`` False."""
        version = data.get("record_version")
        if version not in (None, RECORD_VERSION):
            raise ValueError(f"stored record version {version!r} is newer than this service ({RECORD_VERSION})")
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k not in ("files", "details_read")}
        content = _RECORD.validate_python(fields)
        return content if version is not None else replace(content, details_read=False)

    def deferment_until(self, fallback: date) -> date | None:
        """When the requested deferment ends (:func:`hws.domain.calendar_rules.deferment_end`),
        or ``None`` without one; ``fallback`` stands in for a missing filing date."""
        if self.deferment is None or not self.deferment.requested:
            return None
        priority_dates = [p.filing_date for p in self.priorities if p.filing_date is not None]
        priority_dates += [p.filing_date for design in self.designs for p in design.priorities]
        return deferment_end(
            filing=self.filing_date or self.request_date or fallback,
            priority_dates=priority_dates,
            period=self.deferment.period,
            unit=self.deferment.unit,
        )

    def to_dict(self) -> dict[str, Any]:
        def plain(value: Any) -> Any:
            if isinstance(value, date):
                return value.isoformat()
            if isinstance(value, tuple):
                return [plain(v) for v in value]
            if hasattr(value, "__dataclass_fields__"):
                return {k: plain(getattr(value, k)) for k in value.__dataclass_fields__}
            return value

        out = {k: plain(getattr(self, k)) for k in self.__dataclass_fields__ if k != "files"}
        out["transaction"] = str(self.transaction)
        out["files"] = {name: len(data) for name, data in self.files.items()}
        return out


@dataclass
class ValidationReport:
    problems: list[Problem] = field(default_factory=list)
    #: set only when the package is accepted
    content: PackageContent | None = None
    #: the st96Version the document declares, when it could be read
    st96_version: str | None = None
    #: True when the official XSD of that version was applied
    schema_checked: bool = False

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity is Severity.WARNING]

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def codes(self) -> set[str]:
        return {p.code for p in self.problems}

    def to_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.ok,
            "st96Version": self.st96_version,
            "schemaChecked": self.schema_checked,
            "problems": [p.to_dict() for p in self.problems],
            "content": self.content.to_dict() if self.content else None,
        }


# --------------------------------------------------------------------------- entry point


_RECORD = TypeAdapter(PackageContent)


def validate_package(
    source: bytes | str | PathLike[str] | BinaryIO,
    *,
    office: str | None = None,
    limits: ZipLimits | None = None,
    schemas: SchemaSet | None = None,
    max_xml_bytes: int = safexml.DEFAULT_MAX_BYTES,
    max_schema_errors: int = 100,
    structural_only: StructuralOnly | None = None,
) -> ValidationReport:
    """Validate a package; never raises for bad input.

    ``office``: the two-letter code of the office that sends the package (the client's
    office); None skips that check. ``schemas``: installed official schema sets; None (or
    no set for the declared version) means structural rules only, with a warning.
    ``structural_only``: the service's rule for a version without an installed set
    (refused unless it allows it); None (the office kit's pre-flight check): allowed.
    """
    report = ValidationReport()
    try:
        _validate(report, source, office, limits or ZipLimits(), schemas, max_xml_bytes, max_schema_errors, structural_only)
    except RecursionError:  # defensive: parsing is iterative, but never let input crash us
        report.problems.append(Problem("xml-not-well-formed", "the document is nested too deeply"))
    if report.errors:
        report.content = None
    return report


def _validate(
    report: ValidationReport,
    source: bytes | str | PathLike[str] | BinaryIO,
    office: str | None,
    limits: ZipLimits,
    schemas: SchemaSet | None,
    max_xml_bytes: int,
    max_schema_errors: int,
    structural_only: StructuralOnly | None = None,
) -> None:
    problems = report.problems
    archive = read_zip(source, limits)
    problems.extend(archive.problems)
    if not archive.opened or any(p.code in _FATAL_ZIP for p in archive.problems):
        return

    xml_names = [n for n in archive.names if n.lower().endswith(".xml")]
    if not xml_names:
        if archive.names:
            problems.append(Problem("package-no-xml", "the package holds no .xml file; add the one ST.96 XML document"))
        else:
            problems.append(Problem("package-no-xml", "the package holds no files at all; add the ST.96 XML document"))
    elif len(xml_names) > 1:
        problems.append(
            Problem(
                "package-several-xml",
                f"the package holds {len(xml_names)} XML files ({', '.join(xml_names)}); it must hold exactly one",
            )
        )
    media = _check_file_types(archive.files, problems)

    if len(xml_names) != 1 or xml_names[0] not in archive.files:
        return
    xml_entry = xml_names[0]
    tree = _parse_xml(archive.files[xml_entry], xml_entry, max_xml_bytes, problems)
    if tree is None:
        return
    rules = _Rules(tree, xml_entry, archive.files, media, problems)
    if not rules.check_root():
        return
    version = rules.version
    report.st96_version = version
    if version is not None:
        report.schema_checked = _check_schema(tree, version, xml_entry, schemas, max_schema_errors, problems, structural_only)
    content = rules.check_transaction(office)
    if content is not None and version is not None:
        report.content = with_details(content, tree.getroot())


# --------------------------------------------------------------------------- layout


def _sniff(data: bytes, media_type: str) -> bool:
    if media_type == "application/pdf":
        return data.startswith(b"%PDF-")
    if media_type == "image/jpeg":
        return data.startswith(b"\xff\xd8\xff")
    if media_type == "image/png":
        return data.startswith(b"\x89PNG\r\n\x1a\n")
    return False


def _check_file_types(files: dict[str, bytes], problems: list[Problem]) -> dict[str, str]:
    """Media type of every readable non-XML file whose content matches its extension."""
    media: dict[str, str] = {}
    for name, data in files.items():
        suffix = PurePosixPath(name).suffix.lower()
        if suffix == ".xml":
            continue
        known = FILE_TYPES.get(suffix)
        where = Location(entry=name)
        if known is None:
            problems.append(
                Problem(
                    "file-type-not-allowed",
                    f"{name!r}: a package carries only the XML, PDF documents and JPEG/PNG reproductions",
                    where,
                )
            )
            continue
        media_type, code = known
        if not _sniff(data, media_type):
            what = {"application/pdf": "a PDF", "image/jpeg": "a JPEG image", "image/png": "a PNG image"}[media_type]
            problems.append(Problem(code, f"{name!r} is named like {what} but its content is not {what}", where))
            continue
        decoded = media_files.check(name, data, media_type)  # decoded, not sniffed: no polyglots
        if decoded:
            problems.extend(decoded)
            continue
        media[name] = media_type
    return media


def _parse_xml(data: bytes, entry: str, max_bytes: int, problems: list[Problem]) -> etree._ElementTree | None:
    where = Location(entry=entry)
    if len(data) > max_bytes:
        problems.append(Problem("xml-too-large", f"the XML has {len(data)} bytes; the limit is {max_bytes}", where))
        return None
    declared = _ENCODING_DECL.match(data[:1024])
    if declared and declared.group(1).decode("ascii").lower() not in _UTF8_NAMES:
        problems.append(
            Problem(
                "xml-encoding-not-utf8",
                f"the XML declares encoding {declared.group(1).decode('ascii')!r}; ST.96 documents must be UTF-8",
                Location(entry=entry, line=1),
            )
        )
        return None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        problems.append(Problem("xml-encoding-not-utf8", "the XML is UTF-16; ST.96 documents must be UTF-8", where))
        return None
    bad = _first_invalid_utf8(data)
    if bad is not None:
        line = data.count(b"\n", 0, bad) + 1
        problems.append(
            Problem(
                "xml-encoding-invalid",
                f"byte {bad} is not valid UTF-8; save the document as UTF-8",
                Location(entry=entry, line=line),
            )
        )
        return None
    first_element = _ELEMENT_START.search(data)
    doctype = _DOCTYPE.search(data, 0, first_element.start() if first_element else len(data))
    if doctype is not None:
        problems.append(
            Problem(
                "xml-doctype-forbidden",
                "the XML declares a DOCTYPE; remove it (DTDs and entities are refused)",
                Location(entry=entry, line=data.count(b"\n", 0, doctype.start()) + 1),
            )
        )
        return None
    try:
        return safexml.parse(data, max_bytes=max_bytes)
    except safexml.XMLRejected as exc:
        message = exc.message
        if "Excessive depth" in message:
            message = "elements are nested more than 256 levels deep; ST.96 documents never are"
        problems.append(Problem(exc.code, message, Location(entry=entry, line=exc.line)))
        return None


def _first_invalid_utf8(data: bytes, chunk: int = 1 << 20) -> int | None:
    """Offset of the first invalid UTF-8 byte, or None; bounded memory."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    for start in range(0, len(data), chunk):
        part = data[start : start + chunk]
        try:
            decoder.decode(part, final=start + chunk >= len(data))
        except UnicodeDecodeError as exc:
            return start + exc.start
    return None


def _check_schema(
    tree: etree._ElementTree,
    version: str,
    entry: str,
    schemas: SchemaSet | None,
    max_errors: int,
    problems: list[Problem],
    structural_only: StructuralOnly | None = None,
) -> bool:
    where = Location(entry=entry, path=tree.getpath(tree.getroot()), line=1)
    compiled = None
    if schemas is not None:
        try:
            compiled = schemas.compiled(version)
        except SchemaError as exc:
            problems.append(Problem("xsd-unavailable", f"schema set {version} is installed but broken: {exc}", where))
            return False
    if compiled is None:
        installed = schemas.versions() if schemas is not None else []
        if structural_only is not None and not structural_only.allows(version, installed):
            sets = ", ".join(installed) or "none"
            problems.append(
                Problem(
                    "st96-version-not-installed",
                    f"the document declares st96Version {version}, for which this service has no schema set "
                    f"(installed: {sets}); send the document in an installed version",
                    where,
                )
            )
            return False
        if structural_only is not None:
            message = (
                f"no official ST.96 {version} schema set is installed here; the operator allows structural "
                "rules only for it, so the document was not checked against WIPO's schema"
            )
        else:
            message = (
                f"no official ST.96 {version} schema set is installed; structural rules only"
                " (give `--schemas` the folder holding WIPO's schema sets to check against them)"
            )
        problems.append(Problem("xsd-not-installed", message, where, Severity.WARNING))
        return False
    errors = compiled.errors(tree, max_errors + 1)
    for err in errors[:max_errors]:
        problems.append(
            Problem(
                "xsd-invalid",
                err.message,
                Location(entry=entry, path=getattr(err, "path", None) or None, line=err.line or None),
            )
        )
    if len(errors) > max_errors:
        problems.append(Problem("xsd-invalid", f"more schema errors follow; only the first {max_errors} are listed", where))
    return True


# --------------------------------------------------------------------------- structural rules


def _text(el: etree._Element | None) -> str | None:
    if el is None or el.text is None:
        return None
    value = el.text.strip()
    return value or None


def _date(text: str | None) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def _attribute(el: etree._Element | None, name: str) -> str | None:
    return None if el is None else el.get(name)


def _bool(text: str | None) -> bool | None:
    if text is None:
        return None
    return text in ("true", "1")


def _reference_escapes(ref: str) -> bool:
    return (
        ref.startswith(("/", "\\"))
        or "\\" in ref
        or bool(re.match(r"^[A-Za-z]:", ref))
        or "://" in ref
        or ".." in ref.split("/")
        or "\x00" in ref
    )


def _locarno_code(el: etree._Element) -> str:
    """``06-01`` (class-subclass), or the class alone."""
    klass = _text(el.find(c("LocarnoClass"))) or ""
    subclass = _text(el.find(f"{c('LocarnoSubclassBag')}/{c('LocarnoSubclass')}"))
    return f"{klass}-{subclass}" if subclass else klass


def _name_text(el: etree._Element) -> str | None:
    for tag in (c("PersonFullName"), c("OrganizationStandardName"), c("EntityName"), c("LastName")):
        found = el.find(f".//{tag}")
        if found is not None:
            text = "".join(t for t in found.itertext() if isinstance(t, str)).strip()
            if text:
                return text
    return None


class _Rules:
    """Our structural rules over a parsed document; appends to ``problems``."""

    def __init__(
        self,
        tree: etree._ElementTree,
        entry: str,
        files: dict[str, bytes],
        media: dict[str, str],
        problems: list[Problem],
    ) -> None:
        self.tree = tree
        self.root = tree.getroot()
        self.entry = entry
        self.files = files
        self.media = media
        self.problems = problems
        self.version: str | None = None

    def where(self, el: etree._Element | None) -> Location:
        if el is None:
            return Location(entry=self.entry)
        return Location(
            entry=self.entry, path=self.tree.getpath(el), line=el.sourceline if isinstance(el.sourceline, int) else None
        )

    def add(self, code: str, message: str, el: etree._Element | None = None) -> None:
        self.problems.append(Problem(code, message, self.where(el)))

    # -- root -----------------------------------------------------------------

    def check_root(self) -> bool:
        root = self.root
        if root.tag != ROOT_TAG:
            qname = etree.QName(root)
            if qname.localname == "HagueOfficeToIBTransaction":
                msg = f"the root element is in namespace {qname.namespace!r}; it must be in {DGN!r}"
            else:
                msg = f"the root element is {qname.localname!r}; it must be dgn:HagueOfficeToIBTransaction ({DGN})"
            self.add("xml-root-wrong", msg, root)
            return False
        version = root.get(c("st96Version"))
        if version is None:
            self.add("st96-version-missing", "add com:st96Version (one of V7_0, V6_0, V4_0, V3_2) to the root", root)
        elif version not in ST96_VERSIONS:
            self.add(
                "st96-version-unknown",
                f"com:st96Version {version!r} is not accepted; use one of {', '.join(ST96_VERSIONS)}",
                root,
            )
        else:
            self.version = version
        return True

    # -- transaction ----------------------------------------------------------

    def check_transaction(self, office: str | None) -> PackageContent | None:
        root = self.root
        header = root.find(d("HagueOfficeTransactionHeader"))
        if header is None:
            self.add("header-missing", "add dgn:HagueOfficeTransactionHeader as the first child of the root", root)
        bag = root.find(d("HagueOfficeToIBBag"))
        transaction: etree._Element | None = None
        kind: TransactionKind | None = None
        if bag is None:
            self.add("bag-missing", "add dgn:HagueOfficeToIBBag holding the one transaction", root)
        else:
            children = [el for el in bag if isinstance(el.tag, str)]
            known = []
            for el in children:
                qname = etree.QName(el)
                try:
                    if qname.namespace != DGN:
                        raise ValueError
                    known.append((el, TransactionKind(qname.localname)))
                except ValueError:
                    self.add(
                        "transaction-unknown",
                        f"{qname.localname!r} is not an Office-to-IB transaction;"
                        f" use one of {', '.join(k.value for k in TransactionKind)}",
                        el,
                    )
            if not children:
                self.add("bag-empty", "the bag is empty; put exactly one transaction in it", bag)
            elif len(children) > 1:
                names = ", ".join(etree.QName(el).localname for el in children)
                self.add(
                    "bag-several-transactions",
                    f"the bag holds {len(children)} transactions ({names}); send one package per transaction",
                    children[1],
                )
            if len(children) == 1 and known:
                transaction, kind = known[0]
        if header is not None:
            total = _text(header.find(c("TransactionTotalQuantity")))
            if bag is not None and total is not None and total.isdigit() and int(total) != len(bag):
                self.add(
                    "header-count-mismatch",
                    f"com:TransactionTotalQuantity says {total} but the bag holds {len(bag)} transaction(s)",
                    header.find(c("TransactionTotalQuantity")),
                )
        sender = self._check_office(header, transaction, office)
        refs = self._check_references()
        if transaction is None or kind is None:
            return None
        if kind is TransactionKind.APPLICATION:
            return self._application(transaction, sender, refs)
        return self._decision(transaction, kind, sender, refs)

    def _check_office(self, header: etree._Element | None, transaction: etree._Element | None, office: str | None) -> str | None:
        header_code_el = header.find(c("IPOfficeCode")) if header is not None else None
        app_code_el = transaction.find(c("IPOfficeCode")) if transaction is not None else None
        header_code, app_code = _text(header_code_el), _text(app_code_el)
        sender = header_code or app_code
        if header_code and app_code and header_code != app_code:
            self.add(
                "office-code-inconsistent",
                f"the header says office {header_code!r} but the application says {app_code!r}; they must agree",
                app_code_el,
            )
        if sender is None:
            self.add(
                "office-code-missing",
                "name the sending office: add com:IPOfficeCode (two-letter ST.3 code) to the header",
                header if header is not None else self.root,
            )
        elif office is not None and sender.upper() != office.upper():
            self.add(
                "office-code-mismatch",
                f"the XML says it comes from office {sender!r} but it is sent by office {office.upper()!r}",
                header_code_el if header_code else app_code_el,
            )
        return sender

    # -- files ----------------------------------------------------------------

    def _check_references(self) -> dict[str, list[etree._Element]]:
        """Every com:FileName / com:ThumbnailFileName must name a file of the package, and
        every file must be named. Returns reference → elements naming it."""
        refs: dict[str, list[etree._Element]] = {}
        folded = {name.casefold(): name for name in self.files}
        for el in self.root.iter(c("FileName"), c("ThumbnailFileName")):
            ref = (el.text or "").strip()
            if not ref:
                self.add("reference-empty", "this file reference is empty; give the file's path in the package", el)
                continue
            if _reference_escapes(ref):
                self.add(
                    "reference-escapes",
                    f"{ref!r} points outside the package; use the file's exact relative path inside the ZIP",
                    el,
                )
                continue
            refs.setdefault(ref, []).append(el)
        for ref, elements in refs.items():
            if ref in self.files or ref in self._refused_names:
                continue
            hint = ""
            near = folded.get(ref.casefold())
            if near is not None:
                hint = f" (the package has {near!r}: names are case-sensitive)"
            self.add("reference-missing", f"{ref!r} is referenced but not in the package{hint}", elements[0])
        for name in self.files:
            if name == self.entry or name in refs:
                continue
            self.problems.append(
                Problem(
                    "file-unreferenced",
                    f"{name!r} is in the package but the XML does not reference it; reference it or remove it",
                    Location(entry=name),
                )
            )
        return refs

    @property
    def _refused_names(self) -> set[str]:
        # entries present but refused earlier (already reported) are not "missing"
        return {p.where.entry for p in self.problems if p.where.entry and p.code.startswith(("zip-", "file-"))}

    def _documents(
        self, transaction: etree._Element, kind: TransactionKind, generic_category: str | None
    ) -> tuple[Document, ...]:
        rule = document_rule(kind, generic_category)
        documents: list[Document] = []
        pdfs: set[str] = set()
        prior_refusal = _bool(transaction.get(d("priorRefusalIndicator")))
        for name_el in transaction.iter(c("FileName")):
            holder = name_el.getparent()
            if holder is None or holder.tag == d("View"):
                continue
            ref = (name_el.text or "").strip()
            suffix = PurePosixPath(ref).suffix.lower()
            media_type = FILE_TYPES.get(suffix, (None, ""))[0]
            kind_el = holder.find(c("DocumentKindCategory"))
            doc_kind = _text(kind_el)
            documents.append(Document(ref, doc_kind, media_type, _text(holder.find(c("DocumentName")))))
            if media_type == "application/pdf":
                pdfs.add(ref)
                if doc_kind is None:
                    allowed = ", ".join(sorted(rule.kinds)) or "none"
                    self.add(
                        "document-kind-missing",
                        f"{ref!r} has no com:DocumentKindCategory; add one of: {allowed}",
                        holder,
                    )
                elif doc_kind not in rule.kinds:
                    allowed = ", ".join(sorted(rule.kinds)) or "none (this transaction carries no document)"
                    self.add(
                        "document-kind-not-allowed",
                        f"{ref!r} has kind {doc_kind!r}, not allowed for {kind.value}; allowed: {allowed}",
                        kind_el,
                    )
                elif prior_refusal is True and doc_kind == "GRANT_OF_PROTECTION_NO_PRIOR_REFUSAL":
                    self.add(
                        "document-kind-inconsistent",
                        "dgn:priorRefusalIndicator is true: the kind must be GRANT_OF_PROTECTION_AFTER_REFUSAL",
                        kind_el,
                    )
                elif prior_refusal is False and doc_kind == "GRANT_OF_PROTECTION_AFTER_REFUSAL":
                    self.add(
                        "document-kind-inconsistent",
                        "dgn:priorRefusalIndicator is false: the kind must be GRANT_OF_PROTECTION_NO_PRIOR_REFUSAL",
                        kind_el,
                    )
            elif media_type in IMAGE_TYPES:
                if doc_kind is None:
                    self.add(
                        "document-kind-missing",
                        f"{ref!r} has no com:DocumentKindCategory; reproductions use {REPRODUCTION_SHEETS}",
                        holder,
                    )
                elif doc_kind != REPRODUCTION_SHEETS:
                    self.add(
                        "document-kind-not-allowed",
                        f"{ref!r} is an image: its kind must be {REPRODUCTION_SHEETS}, not {doc_kind!r}",
                        kind_el,
                    )
        if not rule.count_ok(len(pdfs)):
            what = kind.value + (f" ({generic_category})" if generic_category else "")
            self.add(
                "document-count",
                f"{what} carries {len(pdfs)} PDF document(s); it must carry {rule.describe_count()}",
                transaction,
            )
        return tuple(documents)

    def _designs(self, transaction: etree._Element) -> tuple[Design, ...]:
        designs: list[Design] = []
        seen: set[str] = set()
        bag = transaction.find(d("HagueDesignBag"))
        if bag is None:
            return ()
        for design_el in bag.iterfind(d("HagueDesign")):
            ident = _text(design_el.find(d("DesignIdentifier")))
            if ident is not None:
                if ident in seen:
                    self.add("design-identifier-duplicate", f"design {ident!r} is listed twice", design_el)
                seen.add(ident)
            views = []
            for view_el in design_el.iterfind(f"{d('ViewBag')}/{d('View')}"):
                file_el = view_el.find(c("FileName"))
                ref = _text(file_el) or ""
                if ref and FILE_TYPES.get(PurePosixPath(ref).suffix.lower(), (None,))[0] not in IMAGE_TYPES:
                    self.add("view-not-image", f"view file {ref!r} must be a JPEG (.jpg) or PNG (.png) image", file_el)
                views.append(
                    View(
                        _text(view_el.find(d("ViewIdentifier"))),
                        ref,
                        _text(view_el.find(d("ViewTypeCategory"))),
                    )
                )
            stated = _text(design_el.find(d("ViewTotalQuantity")))
            if stated is not None and stated.isdigit() and int(stated) != len(views):
                self.add(
                    "count-mismatch",
                    f"design {ident!r} states {stated} views but lists {len(views)}",
                    design_el.find(d("ViewTotalQuantity")),
                )
            classes = tuple(
                _locarno_code(cls_el)
                for cls_el in design_el.iterfind(f"{c('LocarnoClassificationBag')}/{c('LocarnoClassification')}")
                if _text(cls_el.find(c("LocarnoClass")))
            )
            product = _text(design_el.find(f"{c('ProductDescriptionTextBag')}/{c('ProductDescriptionText')}"))
            designs.append(Design(ident, tuple(views), product, classes))
        return tuple(designs)

    def _affected(self, transaction: etree._Element) -> tuple[str, ...] | None:
        affected = transaction.find(d("AffectedDesign"))
        if affected is None or affected.find(d("AllDesignsIndicator")) is not None:
            return None
        return tuple(
            t for t in (_text(el) for el in affected.iterfind(f"{d('DesignIdentifierBag')}/{d('DesignIdentifier')}")) if t
        )

    def _application(
        self, app: etree._Element, sender: str | None, refs: dict[str, list[etree._Element]]
    ) -> PackageContent | None:
        designs = self._designs(app)
        stated = _text(app.find(d("DesignTotalQuantity")))
        if stated is not None and stated.isdigit() and int(stated) != len(designs):
            self.add(
                "count-mismatch",
                f"dgn:DesignTotalQuantity says {stated} but {len(designs)} design(s) are listed",
                app.find(d("DesignTotalQuantity")),
            )
        views_total = sum(len(ds.views) for ds in designs)
        stated_views = _text(app.find(d("ViewTotalQuantity")))
        if stated_views is not None and stated_views.isdigit() and int(stated_views) != views_total:
            self.add(
                "count-mismatch",
                f"dgn:ViewTotalQuantity says {stated_views} but {views_total} view(s) are listed",
                app.find(d("ViewTotalQuantity")),
            )
        designated: list[str] = []
        for code_el in app.iterfind(f"{d('DesignatedCountryBag')}/{d('DesignatedCountry')}/{c('DesignatedCountryCode')}"):
            code = _text(code_el)
            if code is None:
                continue
            if code in designated:
                self.add("designation-duplicate", f"{code!r} is designated twice", code_el)
            else:
                designated.append(code)
        immediate = _bool(_text(app.find(d("ImmediatePublicationIndicator"))))
        deferred = _bool(_text(app.find(d("PublicationDefermentIndicator"))))
        if immediate and deferred:
            self.add(
                "publication-conflict",
                "both immediate publication and deferment are requested; choose one",
                app.find(d("PublicationDefermentIndicator")),
            )
        period_el = app.find(d("DefermentPeriod"))
        period = _text(period_el)
        deferment = None
        if deferred is not None:
            deferment = Deferment(
                deferred,
                int(period) if period and period.isdigit() else None,
                period_el.get(c("periodCategory")) if period_el is not None else None,
            )
        documents = self._documents(app, TransactionKind.APPLICATION, None)
        applicants = tuple(n for n in (_name_text(a) for a in app.iterfind(f"{d('ApplicantBag')}/{d('Applicant')}")) if n)
        priorities = tuple(
            Priority(
                _text(p.find(c("PriorityCountryCode"))),
                _text(p.find(f"{c('ApplicationNumber')}/{c('ApplicationNumberText')}"))
                or _text(p.find(f"{c('ApplicationNumber')}/{c('ST13ApplicationNumber')}")),
                _date(_text(p.find(c("PriorityApplicationFilingDate")))),
            )
            for p in app.iter(d("Priority"))
        )
        payments = tuple(
            Payment(
                mode=_text(p.find(c("PaymentModeCategory"))) or _text(p.find(f"{c('PaymentMethod')}/{c('OtherPaymentMethod')}")),
                amount=_text(p.find(c("FeePayableTotalAmount"))),
                currency=_attribute(p.find(c("FeePayableTotalAmount")), c("currencyCode")),
                reference=_text(p.find(c("PaymentReference"))),
                identifier=_text(p.find(c("PaymentIdentifier"))),
                account=_text(p.find(f"{c('PaymentMethod')}/{c('CurrentAccount')}/{c('AccountNumber')}")),
            )
            for p in app.iterfind(f"{c('PaymentBag')}/{c('Payment')}")
        )
        filing = _date(_text(app.find(c("ApplicationDateTime")))) or _date(_text(app.find(c("ReceivingOfficeDate"))))
        if sender is None or self.version is None:
            return None
        return PackageContent(
            transaction=TransactionKind.APPLICATION,
            st96_version=self.version,
            office=sender.upper(),
            office_reference=_text(app.find(c("OfficeReferenceIdentifier"))),
            xml_entry=self.entry,
            request_date=self._request_date(),
            designs=designs,
            designated_offices=tuple(designated),
            applicants=applicants,
            filing_date=filing,
            priorities=priorities,
            deferment=deferment,
            immediate_publication=immediate,
            payments=payments,
            documents=documents,
            files=self.files,
        )

    def _request_date(self) -> date | None:
        header = self.root.find(d("HagueOfficeTransactionHeader"))
        if header is None:
            return None
        return _date(_text(header.find(c("RequestDate")))) or _date(_text(header.find(c("RequestDateTime"))))

    def _decision(
        self,
        el: etree._Element,
        kind: TransactionKind,
        sender: str | None,
        refs: dict[str, list[etree._Element]],
    ) -> PackageContent | None:
        irn_el = el.find(c("InternationalRegistrationNumber"))
        irn = _text(irn_el)
        generic = _text(el.find(d("HagueGenericOfficeCommunicationCategory")))
        if irn is None:
            if kind is not TransactionKind.GENERIC_OFFICE_COMMUNICATION or el.find(c("OfficeReferenceIdentifier")) is None:
                self.add(
                    "irn-missing",
                    "name the international registration: add com:InternationalRegistrationNumber (DM/nnnnnn)",
                    el,
                )
        elif not IRN_PATTERN.match(irn):
            self.add("irn-invalid", f"{irn!r} is not an international registration number of the form DM/nnnnnn", irn_el)
        documents = self._documents(el, kind, generic)
        designs = self._designs(el)
        designated: tuple[str, ...] = ()
        code = _text(el.find(f"{d('DesignatedCountry')}/{c('DesignatedCountryCode')}"))
        if code:
            designated = (code,)
        if sender is None or self.version is None:
            return None
        return PackageContent(
            transaction=kind,
            st96_version=self.version,
            office=sender.upper(),
            office_reference=_text(el.find(c("OfficeReferenceIdentifier"))),
            xml_entry=self.entry,
            request_date=self._request_date(),
            irn=irn,
            generic_category=generic,
            decision_date=_date(_text(el.find(c("DecisionDate")))),
            decision_effective_date=_date(_text(el.find(c("DecisionEffectiveDate")))),
            affected_designs=self._affected(el),
            designs=designs,
            designated_offices=designated,
            documents=documents,
            files=self.files,
        )


def with_details(content: PackageContent, root: etree._Element) -> PackageContent:
    """``content`` with what :mod:`hws.st96.reading` reads from its document (``root``):
    parties, Acts, design and decision details. Import does it once; a record stored
    before :data:`RECORD_VERSION` gets it from its stored XML."""
    bag = root.find(d("HagueOfficeToIBBag"))
    transaction = next((el for el in bag if isinstance(el.tag, str)), None) if bag is not None else None
    if transaction is None:
        return replace(content, details_read=True)
    details = reading.design_details(transaction)
    designs = tuple(
        replace(
            design,
            description=found.description,
            locarno_edition=found.locarno_edition,
            priorities=found.priorities,
        )
        if design.identifier is not None and (found := details.get(design.identifier)) is not None
        else design
        for design in content.designs
    )
    if content.transaction is TransactionKind.APPLICATION:
        return replace(
            content,
            designs=designs,
            holders=reading.holders(transaction),
            representatives=reading.representatives(transaction),
            designations=reading.designations(transaction),
            language=reading.application_language(transaction),
            applicant_reference=reading.applicant_reference(transaction),
            details_read=True,
        )
    return replace(
        content,
        designs=designs,
        language=reading.decision_language(transaction),
        decision_details=reading.decision_details(transaction),
        details_read=True,
    )
