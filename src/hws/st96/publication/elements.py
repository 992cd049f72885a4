"""The ST.96 V6_0 elements of the publication (``HagueIBToOfficeTransaction_V6_0.xsd``).

One lxml subtree per transaction — ``dgn:HagueRegistration`` (:func:`_registration_element`)
and the decision elements (``dgn:HagueRefusal`` …, :func:`_decision_element`) — each
declaring the namespaces it uses, so the writers can stream them into the document one
at a time (:func:`_root`, :func:`_nl`). Inputs ST.96 cannot express raise
:class:`~hws.st96.publication.model.PublicationError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import PurePosixPath
from typing import Any

from lxml import etree

from hws.domain.calendar_rules import add_months
from hws.st96.namespaces import COM, DGN, XSI, com, dgn
from hws.st96.publication.categories import DecisionCategory
from hws.st96.publication.layout import _Blob
from hws.st96.publication.model import Decision, Design, PublicationError, Registration, _office
from hws.st96.reading import Party

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

VIEW_FORMAT = {"image/jpeg": "JPEG", "image/png": "PNG"}
DOCUMENT_FORMAT = {"application/pdf": "PDF", "image/jpeg": "JPEG", "image/png": "PNG"}


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
        el.set(com(key), value)
    return el


def _opt(parent: etree._Element, tag: str, value: Any, **attrs: str) -> None:
    if value is not None and value != "":
        _sub(parent, tag, value, **attrs)


def _party(parent: etree._Element, tag: str, party: Party, seq: int, *, holder: bool) -> None:
    el = _sub(parent, tag, sequenceNumber=str(seq))
    if holder:  # dgn:ApplicantType
        _opt(el, com("NationalityCode"), party.nationality)
        _opt(el, com("LegalEntityName"), party.legal_entity_name)
        if party.entitlement_nationality or party.entitlement_domicile:
            ent = _sub(el, dgn("Entitlement"))
            _opt(ent, com("EntitlementNationalityCode"), party.entitlement_nationality)
            if party.entitlement_domicile:
                _sub(_sub(ent, com("EntitlementDomiciled")), com("EntitlementDomiciledCode"), party.entitlement_domicile)
        _opt(el, dgn("ApplicantContractingParty"), party.contracting_party)
        _contact(el, party)
    else:  # com:RepresentativeType: the choice comes first
        _contact(el, party)
        _opt(el, com("NationalityCode"), party.nationality)


def _contact(parent: etree._Element, party: Party) -> None:
    contact = _sub(parent, com("Contact"))
    name = _sub(contact, com("Name"))
    if party.person:
        _sub(_sub(name, com("PersonName")), com("PersonFullName"), party.name)
    else:
        _sub(_sub(name, com("OrganizationName")), com("OrganizationStandardName"), party.name)
    if party.address_lines and party.country:
        addr = _sub(_sub(_sub(contact, com("PostalAddressBag")), com("PostalAddress")), com("PostalStructuredAddress"))
        for n, line in enumerate(party.address_lines, start=1):
            _sub(addr, com("AddressLineText"), line, sequenceNumber=str(n))
        _opt(addr, com("CityName"), party.city)
        _sub(addr, com("CountryCode"), party.country)
        _opt(addr, com("PostalCode"), party.postal_code)
    elif party.address_lines:
        addr = _sub(_sub(contact, com("PostalAddressBag")), com("PostalAddress"))
        for n, line in enumerate(party.address_lines, start=1):
            _sub(addr, com("PostalAddressText"), line, sequenceNumber=str(n))


def _locarno(parent: etree._Element, design: Design) -> None:
    bag = _sub(parent, com("LocarnoClassificationBag"))
    _sub(bag, com("LocarnoClassificationEdition"), design.locarno_edition)
    classes = design.locarno_classes or ()
    if not classes:
        raise PublicationError(f"design {design.identifier}: no Locarno class")
    for item in classes:
        klass, _, subclass = str(item).partition("-")
        cls = _sub(bag, com("LocarnoClassification"))
        _sub(cls, com("LocarnoClass"), klass.strip().zfill(2))
        if subclass.strip():
            _sub(_sub(cls, com("LocarnoSubclassBag")), com("LocarnoSubclass"), subclass.strip().zfill(2))


def _registration_element(reg: Registration, views: Mapping[tuple[int, int], _Blob]) -> etree._Element:
    el = etree.Element(dgn("HagueRegistration"), nsmap=_SUBTREE_NSMAP)
    _sub(el, com("InternationalRegistrationNumber"), reg.irn)
    _sub(el, com("RecordIdentifier"), reg.srn)
    _sub(el, com("InternationalRegistrationDate"), reg.registration_date)
    _sub(el, com("InternationalFilingDate"), reg.filing_date)
    _sub(el, com("FeeCalculationDate"), reg.fee_calculation_date or reg.filing_date)
    _sub(el, com("FilingLanguageCode"), reg.language)
    _opt(el, com("OfficeReferenceIdentifier"), reg.office_reference)
    _opt(el, com("ApplicantFileReference"), reg.applicant_reference)
    dbag = _sub(el, dgn("DesignatedCountryBag"))
    for des in reg.designations:
        dc = _sub(dbag, dgn("DesignatedCountry"))
        _sub(dc, com("DesignatedCountryCode"), des.office)
        _opt(dc, dgn("HagueAgreementActCategory"), des.act)
    _sub(el, com("ExpiryDate"), reg.expiry_date or add_months(reg.registration_date, INITIAL_TERM_MONTHS))
    _sub(el, dgn("DesignTotalQuantity"), len(reg.designs))
    _opt(el, dgn("DefermentExpiryDate"), reg.deferment_expiry_date)
    hbag = _sub(el, dgn("HolderBag"))
    for n, holder in enumerate(reg.holders, start=1):
        _party(hbag, dgn("Holder"), holder, n, holder=True)
    if reg.representatives:
        rbag = _sub(el, com("RepresentativeBag"))
        for n, rep in enumerate(reg.representatives, start=1):
            _party(rbag, com("Representative"), rep, n, holder=False)
    designs = _sub(el, dgn("HagueDesignBag"))
    for i, design in enumerate(reg.designs):
        if not design.views:
            raise PublicationError(f"{reg.irn} design {design.identifier}: no view")
        de = _sub(designs, dgn("HagueDesign"))
        _sub(de, dgn("DesignIdentifier"), design.identifier)
        _sub(de, dgn("ViewTotalQuantity"), len(design.views))
        _locarno(de, design)
        _sub(_sub(de, com("ProductDescriptionTextBag")), com("ProductDescriptionText"), design.product, languageCode=reg.language)
        if design.description:
            _sub(
                _sub(de, dgn("DesignDescriptionTextBag")),
                dgn("DesignDescriptionText"),
                design.description,
                languageCode=reg.language,
            )
        if design.priorities:
            pbag = _sub(de, dgn("PriorityBag"))
            for p in design.priorities:
                pe = _sub(pbag, dgn("Priority"))
                _sub(pe, com("PriorityCountryCode"), p.country)
                if p.number:
                    _sub(_sub(pe, com("ApplicationNumber")), com("ApplicationNumberText"), p.number)
                _sub(pe, com("PriorityApplicationFilingDate"), p.filing_date)
        vbag = _sub(de, dgn("ViewBag"))
        for j, view in enumerate(design.views):
            ve = _sub(vbag, dgn("View"))
            _sub(ve, com("FileName"), views[(i, j)].name)
            _sub(ve, dgn("ViewIdentifier"), view.identifier)
            _opt(ve, dgn("ViewFileFormatCategory"), VIEW_FORMAT.get(view.media_type))
            _opt(ve, dgn("ViewTypeCategory"), view.view_type)
    return el


def _affected(parent: etree._Element, designs: tuple[str, ...] | None) -> None:
    el = _sub(parent, dgn("AffectedDesign"))
    if not designs:
        _sub(el, dgn("AllDesignsIndicator"), True)
    else:
        bag = _sub(el, dgn("DesignIdentifierBag"))
        for ident in designs:
            _sub(bag, dgn("DesignIdentifier"), ident)


def _decision_element(dec: Decision, cat: DecisionCategory, document: _Blob | None) -> etree._Element:
    if cat.needs_decision_date and dec.decision_date is None:
        raise PublicationError(f"{dec.irn} {dec.kind} (record {dec.srn}): the decision date is required")
    el = etree.Element(dgn(cat.element), nsmap=_SUBTREE_NSMAP)
    if cat.element == "HagueGrantProtection" and dec.prior_refusal is not None:
        el.set(dgn("priorRefusalIndicator"), _text(dec.prior_refusal))
    _sub(el, com("InternationalRegistrationNumber"), dec.irn)
    _sub(el, com("RecordIdentifier"), dec.srn)
    _sub(el, com("InternationalRecordingDate"), dec.recorded_date)
    _sub(el, com("RecordNotifyingOfficeCode"), _office(dec.office))
    lang = dec.language
    if cat.element == "HagueCancellationNonPayment":
        _affected(el, dec.affected_designs)
        _opt(el, com("CommentText"), dec.comment, languageCode=lang)
        return el
    _opt(el, com("OfficeReferenceIdentifier"), dec.office_reference)
    if cat.element == "HagueRefusalWithdrawal":
        _affected(el, dec.affected_designs)
        _sub(el, com("DecisionDate"), dec.decision_date)
        _opt(el, com("DecisionEffectiveDate"), dec.effective_date)
        _opt(el, dgn("Amendment"), dec.amendment)
    elif cat.element == "HagueRefusal":
        _sub(el, com("DecisionDate"), dec.decision_date)
        _affected(el, dec.affected_designs)
        if dec.grounds:
            gbag = _sub(el, dgn("DecisionGroundsBag"))
            for g in dec.grounds:
                ge = _sub(gbag, dgn("DecisionGrounds"))
                for text in g.texts or ("-",):
                    _sub(ge, dgn("DecisionGroundsText"), text, languageCode=lang)
                for category in g.categories:
                    _sub(ge, dgn("DecisionGroundsCategory"), category)
        _remedies(el, dec)
    elif cat.element == "HagueGrantProtection":
        _sub(el, com("DecisionDate"), dec.decision_date)
        _opt(el, com("DecisionEffectiveDate"), dec.effective_date)
        _affected(el, dec.affected_designs)
        _opt(el, dgn("Amendment"), dec.amendment)
        if document is not None and dec.document is not None:
            doc = _sub(_sub(el, com("DocumentIncludedBag")), com("DocumentIncluded"))
            _sub(doc, com("DocumentName"), dec.document.kind or PurePosixPath(document.name).name)
            _sub(doc, com("FileName"), document.name)
            _opt(doc, com("DocumentFormatCategory"), DOCUMENT_FORMAT.get(dec.document.media_type))
            _opt(doc, com("DocumentKindCategory"), dec.document.kind)
    elif cat.element == "HagueInvalidation":
        _sub(el, com("DecisionDate"), dec.decision_date)
        _opt(el, com("DecisionEffectiveDate"), dec.effective_date)
        _affected(el, dec.affected_designs)
        _remedies(el, dec)
    _opt(el, com("CommentText"), dec.comment, languageCode=lang)
    return el


def _remedies(el: etree._Element, dec: Decision) -> None:
    if dec.remedies:
        bag = _sub(el, dgn("DecisionRemedyTextBag"))
        for text in dec.remedies:
            _sub(bag, dgn("DecisionRemedyText"), text, languageCode=dec.language)


def _root(xf: etree.xmlfile) -> Any:
    return xf.element(
        dgn("HagueIBToOfficeTransaction"),
        {com("st96Version"): ST96_VERSION, f"{{{XSI}}}schemaLocation": SCHEMA_LOCATION},
        nsmap=NSMAP,
    )


def _nl(xf: etree.xmlfile) -> None:
    xf.write("\n")
