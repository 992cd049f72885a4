"""The rejection record: what is wrong with a package, and where.

A :class:`Problem` carries a stable ``code`` (the glossary is :data:`CODES`), a message a
person can act on, a :class:`Severity` and a :class:`Location` (ZIP entry, XML path,
line). The validator never raises for bad input: it collects problems.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    ERROR = "error"  # the package is rejected
    WARNING = "warning"  # reported, does not reject


@dataclass(frozen=True, slots=True)
class Location:
    """Where a problem is: a ZIP entry, an XML path inside it, a line of that XML."""

    entry: str | None = None
    path: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        parts = []
        if self.entry is not None:
            parts.append(self.entry)
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.path:
            parts.append(self.path)
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {"entry": self.entry, "path": self.path, "line": self.line}


@dataclass(frozen=True, slots=True)
class Problem:
    code: str
    message: str
    where: Location = field(default_factory=Location)
    severity: Severity = Severity.ERROR

    def __post_init__(self) -> None:
        if self.code not in CODES:  # a programming error, never caused by input
            raise ValueError(f"unknown problem code {self.code!r}; add it to hws.st96.problems.CODES")

    def __str__(self) -> str:
        where = str(self.where)
        return f"{self.severity}: {self.code}: {self.message}" + (f" [{where}]" if where else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": str(self.severity),
            "message": self.message,
            **self.where.to_dict(),
        }


#: Every code the package validator can report, with what it means. Codes are stable:
#: clients and documentation depend on them. Add, never rename.
CODES: dict[str, str] = {
    # the ZIP container
    "zip-empty": "The package is empty (zero bytes).",
    "zip-not-a-zip": "The package is not a ZIP archive, or it is truncated.",
    "zip-corrupt": "An entry cannot be read: bad CRC, bad compressed data or inconsistent headers.",
    "zip-too-many-entries": "The archive has more entries than the configured limit.",
    "zip-too-large": "The uncompressed total exceeds the configured limit (zip bomb guard).",
    "zip-entry-too-large": "One entry is larger than the configured per-entry limit.",
    "zip-ratio-exceeded": "One entry's compression ratio exceeds the configured limit (zip bomb guard).",
    "zip-nested-archive": "An entry is itself an archive; nested archives are refused.",
    "zip-entry-absolute": "An entry name is an absolute path.",
    "zip-entry-traversal": "An entry name climbs out of the package with '..'.",
    "zip-entry-backslash": "An entry name uses a backslash; ZIP paths use '/'.",
    "zip-entry-drive": "An entry name starts with a drive letter (C:).",
    "zip-entry-nul": "An entry name contains a NUL character.",
    "zip-entry-name-invalid": "An entry name is empty, has empty segments or control characters.",
    "zip-entry-duplicate": "Two entries have the same name.",
    "zip-entry-case-duplicate": "Two entries have names that differ only by letter case.",
    "zip-entry-symlink": "An entry is a symbolic link.",
    "zip-entry-special": "An entry is a device, pipe or other special file.",
    "zip-entry-encrypted": "An entry is encrypted.",
    "zip-entry-unsupported": "An entry uses a compression method that is not supported.",
    "zip-no-files": "The archive holds no files (only directories, or nothing).",
    # the package layout
    "package-no-xml": "The package holds no XML file; it must hold exactly one.",
    "package-several-xml": "The package holds more than one XML file; it must hold exactly one.",
    "file-type-not-allowed": "A file type that a package may not carry (only XML, PDF, JPEG, PNG).",
    "file-not-jpeg": "A .jpg/.jpeg file whose content is not a JPEG image that decodes fully.",
    "file-not-png": "A .png file whose content is not a PNG image that decodes fully.",
    "file-not-pdf": "A .pdf file whose content is not a PDF document that parses (catalog, a page, %%EOF).",
    "file-too-many-pixels": "An image has more pixels than the limit (a decompression bomb guard).",
    "file-trailing-data": "An image or PDF has bytes after its end (where polyglots hide other content).",
    "file-active-content": "A PDF carries JavaScript, a launch action, an embedded file or other active content.",
    "file-markup": "An image or PDF carries HTML or script markup near its start, where browsers sniff.",
    "file-unreferenced": "A file is present in the package but the XML references nothing by that path.",
    "reference-missing": "The XML references a file that is not in the package.",
    "reference-escapes": "The XML references a path outside the package (absolute, '..', drive, backslash).",
    "reference-empty": "A file reference in the XML is empty.",
    # the XML document
    "xml-too-large": "The XML document exceeds the configured size limit.",
    "xml-encoding-not-utf8": "The XML declares an encoding other than UTF-8; ST.96 requires UTF-8.",
    "xml-encoding-invalid": "The XML bytes are not valid UTF-8.",
    "xml-not-well-formed": "The XML is not well formed (or is nested too deeply).",
    "xml-doctype-forbidden": "The XML declares a DOCTYPE; DTDs and entities are refused.",
    "xml-root-wrong": "The root element is not dgn:HagueOfficeToIBTransaction.",
    "st96-version-missing": "The root element has no com:st96Version attribute.",
    "st96-version-unknown": "com:st96Version is not one of the accepted versions (V7_0, V6_0, V4_0, V3_2).",
    "xsd-invalid": "The XML does not conform to the official ST.96 schema of its declared version.",
    "st96-version-not-installed": "The document's st96Version has no schema set installed at the service, and the "
    "operator does not allow structural-only validation for it (a relabelled version would skip the schema check).",
    "xsd-not-installed": "No official schema set is installed for this version; structural rules only.",
    "xsd-unavailable": "The installed schema set for this version cannot be compiled.",
    # the transaction
    "header-missing": "dgn:HagueOfficeTransactionHeader is missing.",
    "header-count-mismatch": "com:TransactionTotalQuantity in the header differs from the bag's content.",
    "bag-missing": "dgn:HagueOfficeToIBBag is missing.",
    "bag-empty": "The bag holds no transaction; it must hold exactly one.",
    "bag-several-transactions": "The bag holds more than one transaction; HWS takes exactly one per package.",
    "transaction-unknown": "The bag holds an element that is not an Office-to-IB transaction.",
    "office-code-missing": "The sending office's code (header com:IPOfficeCode) is missing.",
    "office-code-mismatch": "The sending office in the XML differs from the office that sends the package.",
    "office-code-inconsistent": "Two office codes in the XML that must agree differ.",
    "irn-missing": "The decision names no international registration (com:InternationalRegistrationNumber).",
    "irn-invalid": "The international registration number is not of the form DM/nnnnnn.",
    "decision-office-not-designated": "The decision concerns a registration that does not designate the sending office "
    "(the office of filing may send only a generic communication about it).",
    "document-kind-missing": "A document has no com:DocumentKindCategory.",
    "document-kind-not-allowed": "A document's com:DocumentKindCategory is not allowed for this transaction.",
    "document-kind-inconsistent": "A document's kind contradicts another statement in the transaction.",
    "document-count": "The transaction carries the wrong number of PDF documents.",
    "view-not-image": "A design view references a file that is not a JPEG or PNG image.",
    "design-identifier-duplicate": "Two designs have the same dgn:DesignIdentifier.",
    "designation-duplicate": "A contracting party is designated twice.",
    "publication-conflict": "Immediate publication and deferment are both requested.",
    "count-mismatch": "A stated total (designs, views) differs from what the XML lists.",
}
