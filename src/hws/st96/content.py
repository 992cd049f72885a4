"""What an accepted package says: the typed record read once at import (the package's
rules and :mod:`hws.st96.reading`), stored with its service request as versioned JSON and
read back by examination and publication."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from lxml import etree
from pydantic import TypeAdapter

from hws.domain.calendar_rules import deferment_end
from hws.st96 import reading
from hws.st96.namespaces import dgn
from hws.st96.reading import DecisionDetails, Designation, DesignPriority, Party
from hws.st96.transactions import TransactionKind


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
        # ``priorities`` holds every priority claimed, the designs' own included
        priority_dates = [p.filing_date for p in self.priorities if p.filing_date is not None]
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


_RECORD = TypeAdapter(PackageContent)


def with_details(content: PackageContent, root: etree._Element) -> PackageContent:
    """``content`` with what :mod:`hws.st96.reading` reads from its document (``root``):
    parties, Acts, design and decision details. Import does it once; a record stored
    before :data:`RECORD_VERSION` gets it from its stored XML."""
    bag = root.find(dgn("HagueOfficeToIBBag"))
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
