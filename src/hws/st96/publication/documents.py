"""The two writers: :func:`write_bulletin` and :func:`write_confidential_copy`.

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

Bounded memory. The XML is streamed with :class:`lxml.etree.xmlfile`, one transaction
subtree at a time; registrations may come as a :class:`RegistrationStream` (in IRN
order, one at a time), each one's image entries named while its XML is written and
queued on disk (:class:`~hws.st96.publication.layout._Blobs`); the ZIP is written by
:mod:`hws.st96.publication.archive`; the summary holds totals and a manifest digest, not
one record per entry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import date
from typing import Any, BinaryIO

from lxml import etree

from hws.domain.weeks import Week
from hws.st96.namespaces import com, dgn
from hws.st96.publication.archive import _write_zip
from hws.st96.publication.categories import DECISION_CATEGORIES
from hws.st96.publication.elements import (
    _SUBTREE_NSMAP,
    _decision_element,
    _nl,
    _registration_element,
    _root,
    _sub,
)
from hws.st96.publication.layout import _Blobs, _document_entry, bulletin_entry_name, confidential_copy_entry_name
from hws.st96.publication.model import (
    Decision,
    NothingToPublish,
    PublicationError,
    PublicationSummary,
    Registration,
    RegistrationStream,
    _office,
)


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


def _registrations(
    registrations: Iterable[Registration], wanted: Callable[[Registration], bool]
) -> tuple[int, Iterator[Registration]]:
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
        raise NothingToPublish(f"week {wk.id}: no registration or decision to publish; ST.96 has no empty bulletin")

    doc_names = {id(d): _document_entry(d) for _, decs in present for d in decs}
    counts = ([("Registration", count)] if count else []) + [(c.header, len(decs)) for c, decs in present]
    total = sum(n for _, n in counts)
    irns: list[str] = []

    def write_xml(xf: etree.xmlfile, blobs: _Blobs) -> None:
        with _root(xf):
            _nl(xf)
            with xf.element(dgn("HagueBulletin")):
                _nl(xf)
                header = etree.Element(dgn("HagueBulletinTransactionHeader"), nsmap=_SUBTREE_NSMAP)
                _sub(header, dgn("HagueBulletinNumber"), wk.bulletin_number)
                _sub(header, com("PublicationDate"), publication_date)
                _sub(header, com("TransactionTotalQuantity"), total)
                cbag = _sub(header, dgn("HagueBulletinTransactionCountBag"))
                for category, n in counts:
                    count_el = _sub(cbag, dgn("HagueBulletinTransactionCount"))
                    _sub(count_el, dgn("HagueBulletinTransactionCategory"), category)
                    _sub(count_el, com("TransactionTotalQuantity"), n)
                xf.write(header, pretty_print=True)
                with xf.element(dgn("HagueBulletinTransactionBag")):
                    _nl(xf)
                    if count:
                        _registration_bag(xf, regs, count, blobs, irns)
                    else:
                        _none_left(regs)
                    for cat, decs in present:
                        with xf.element(dgn(cat.bag)):
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


def _registration_bag(xf: etree.xmlfile, regs: Iterator[Registration], count: int, blobs: _Blobs, irns: list[str]) -> None:
    """One registration at a time: its entry names, its XML, its views queued; then the
    check that there were ``count`` (announced in the header, already written)."""
    with xf.element(dgn("HagueRegistrationBag")):
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
            with xf.element(dgn("HagueIBToOfficeBag")):
                _nl(xf)
                header = etree.Element(dgn("HagueIBTransactionHeader"), nsmap=_SUBTREE_NSMAP)
                _sub(header, com("ReceivingOfficeCode"), code)
                _sub(header, com("PublicationIdentifier"), wk.bulletin_number)
                _sub(header, com("RecordNotificationDate"), publication_date)
                _sub(header, com("TransactionTotalQuantity"), count)
                count_el = _sub(_sub(header, dgn("HagueIBTransactionCountBag")), dgn("HagueIBTransactionCount"))
                _sub(count_el, dgn("HagueIBTransactionCategory"), "Office copy")
                _sub(count_el, com("TransactionTotalQuantity"), count)
                xf.write(header, pretty_print=True)
                with xf.element(dgn("HagueOfficeCopyBag")):
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
