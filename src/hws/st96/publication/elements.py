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
from hws.st96.namespaces import COM, DGN, XSI
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
            _sub(
                _sub(de, _d("DesignDescriptionTextBag")),
                _d("DesignDescriptionText"),
                design.description,
                languageCode=reg.language,
            )
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


def _root(xf: etree.xmlfile) -> Any:
    return xf.element(
        _d("HagueIBToOfficeTransaction"),
        {_c("st96Version"): ST96_VERSION, f"{{{XSI}}}schemaLocation": SCHEMA_LOCATION},
        nsmap=NSMAP,
    )


def _nl(xf: etree.xmlfile) -> None:
    xf.write("\n")
