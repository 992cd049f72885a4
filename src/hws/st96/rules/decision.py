"""An office's decision or communication: the registration it concerns, its documents and designs."""

from __future__ import annotations

from lxml import etree

from hws.domain.identifiers import is_irn
from hws.st96.content import PackageContent
from hws.st96.namespaces import com, dgn
from hws.st96.rules.application import request_date
from hws.st96.rules.context import RuleContext, date_of, text_of
from hws.st96.rules.designs import affected_designs, check_designs
from hws.st96.rules.documents import check_documents
from hws.st96.transactions import TransactionKind


def check_decision(
    ctx: RuleContext,
    el: etree._Element,
    kind: TransactionKind,
    sender: str | None,
    refs: dict[str, list[etree._Element]],
) -> PackageContent | None:
    irn_el = el.find(com("InternationalRegistrationNumber"))
    irn = text_of(irn_el)
    generic = text_of(el.find(dgn("HagueGenericOfficeCommunicationCategory")))
    if irn is None:
        if kind is not TransactionKind.GENERIC_OFFICE_COMMUNICATION or el.find(com("OfficeReferenceIdentifier")) is None:
            ctx.add(
                "irn-missing",
                "name the international registration: add com:InternationalRegistrationNumber (DM/nnnnnn)",
                el,
            )
    elif not is_irn(irn):
        ctx.add("irn-invalid", f"{irn!r} is not an international registration number of the form DM/nnnnnn", irn_el)
    documents = check_documents(ctx, el, kind, generic)
    designs = check_designs(ctx, el)
    designated: tuple[str, ...] = ()
    code = text_of(el.find(f"{dgn('DesignatedCountry')}/{com('DesignatedCountryCode')}"))
    if code:
        designated = (code,)
    if sender is None or ctx.version is None:
        return None
    return PackageContent(
        transaction=kind,
        st96_version=ctx.version,
        office=sender.upper(),
        office_reference=text_of(el.find(com("OfficeReferenceIdentifier"))),
        xml_entry=ctx.entry,
        request_date=request_date(ctx),
        irn=irn,
        generic_category=generic,
        decision_date=date_of(text_of(el.find(com("DecisionDate")))),
        decision_effective_date=date_of(text_of(el.find(com("DecisionEffectiveDate")))),
        affected_designs=affected_designs(el),
        designs=designs,
        designated_offices=designated,
        documents=documents,
        files=ctx.files,
    )
