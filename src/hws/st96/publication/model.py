"""What the writers take and give back: plain frozen dataclasses, checked when built.

The service fills one :class:`Registration` per international registration and one
:class:`Decision` per recorded office decision (:mod:`hws.st96.publication.from_requests`
does it from stored service requests); a week too large for memory comes as a
:class:`RegistrationStream`. Each writer returns a :class:`PublicationSummary`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from hws.domain.identifiers import is_irn
from hws.st96.publication.categories import DecisionCategory, bulletin_category
from hws.st96.reading import Designation, Grounds, Party


class PublicationError(ValueError):
    """The inputs cannot be published; the message says which and why."""


class NothingToPublish(PublicationError):
    """The issue would hold no transaction, which ST.96 cannot express; nothing was written."""


def _tuple(value: Any) -> tuple[Any, ...]:
    if value is None:
        return ()
    if isinstance(value, (str, bytes)):
        return (value,)
    return tuple(value)


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
    manifest_sha256: str  # see :func:`hws.st96.publication.archive.manifest_sha256`
    skipped: tuple[tuple[str, str, str], ...] = ()  # (irn, kind, reason)

    @property
    def transaction_total(self) -> int:
        return len(self.registrations) + sum(n for _, n in self.decisions)


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


def _check_irn(irn: str) -> None:
    if not is_irn(irn):  # ASCII digits, whole string: the IRN is a folder name in the ZIP
        raise PublicationError(f"{irn!r} is not an international registration number (DM/nnnnnn)")


def _office(code: str) -> str:
    value = (code or "").strip().upper()
    if not re.fullmatch(r"[A-Z]{2}", value):
        raise PublicationError(f"office code must be two letters (WIPO ST.3), got {code!r}")
    return value
