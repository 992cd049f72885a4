"""The import package validator (spec §5): pure, total, and exhaustive.

:func:`validate_package` takes the bytes (or a path) of an Office → IB package and
returns a :class:`ValidationReport` listing every problem found — it never raises for
bad input. When the package is accepted the report also carries the
:class:`PackageContent` the service needs: transaction kind, sending office, office
reference, designs and their reproductions, designations, documents and their kinds.

Stages: ZIP safety (:mod:`hws.st96.zipsafe`) → layout (one XML, allowed file types,
magic bytes, :mod:`hws.st96.media`) → hardened XML parsing (:mod:`hws.st96.safexml`) →
official XSD of the declared version when installed (:mod:`hws.st96.schemaset`) → our
rules (:mod:`hws.st96.rules`) → the record (:mod:`hws.st96.content`).
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from os import PathLike
from pathlib import PurePosixPath
from typing import Any, BinaryIO

from lxml import etree

from hws.st96 import media as media_files
from hws.st96 import safexml
from hws.st96.content import (
    RECORD_VERSION,
    Deferment,
    Design,
    Document,
    PackageContent,
    Payment,
    Priority,
    View,
    with_details,
)
from hws.st96.problems import Location, Problem, Severity
from hws.st96.rules.context import FILE_TYPES, IMAGE_TYPES, RuleContext
from hws.st96.rules.root import check_root
from hws.st96.rules.transaction import check_transaction
from hws.st96.schemaset import SchemaError, SchemaSet, StructuralOnly
from hws.st96.zipsafe import EntrySpan, ZipLimits, read_zip

#: what importers of this module use (the record's types live in :mod:`hws.st96.content`)
__all__ = [
    "FILE_TYPES",
    "IMAGE_TYPES",
    "RECORD_VERSION",
    "Deferment",
    "Design",
    "Document",
    "PackageContent",
    "Payment",
    "Priority",
    "ValidationReport",
    "View",
    "validate_package",
    "with_details",
]

_FATAL_ZIP = frozenset({"zip-empty", "zip-not-a-zip", "zip-too-many-entries", "zip-too-large"})
_ENCODING_DECL = re.compile(rb"""^(?:\xef\xbb\xbf)?<\?xml[^>]*?\bencoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
_ELEMENT_START = re.compile(rb"<[A-Za-z_:\x80-\xff]")
_UTF8_NAMES = frozenset({"utf-8", "utf8"})


# --------------------------------------------------------------------------- results


@dataclass
class ValidationReport:
    problems: list[Problem] = field(default_factory=list)
    #: set only when the package is accepted
    content: PackageContent | None = None
    #: the st96Version the document declares, when it could be read
    st96_version: str | None = None
    #: True when the official XSD of that version was applied
    schema_checked: bool = False
    #: where each file read lies in the package (the service stores the files as these spans)
    spans: dict[str, EntrySpan] = field(default_factory=dict, repr=False)

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
    report.spans = archive.spans
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
    rules = RuleContext(tree, xml_entry, archive.files, media, problems)
    if not check_root(rules):
        return
    version = rules.version
    report.st96_version = version
    if version is not None:
        report.schema_checked = _check_schema(tree, version, xml_entry, schemas, max_schema_errors, problems, structural_only)
    content = check_transaction(rules, office)
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
                " (to check against it, give `--schemas` WIPO's schema folder, e.g. …/V6_0)"
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
