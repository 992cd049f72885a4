"""Build an Office → IB package from a small, human-editable description.

The description is a mapping (YAML or TOML on disk, a dict in code)::

    transaction: application        # or refusal, grant, division, … (see TransactionKind)
    office: KR
    office_reference: KR-2024-0001
    language: en
    applicants: [{name: ACME Corp, country: KR, address: ["1 Main St"], city: Seoul}]
    designs:
      - id: "1"
        product: Chair
        locarno: "06-01"
        views: [{file: images/1.1.jpg, type: Perspective}]
    designations: [EM, {code: US, act: Act1999}]
    deferment: {months: 12}          # or {weeks: N}, {years: N}, true (no period: 30 months)
    documents: [{file: docs/dm1.pdf, kind: INTERNATIONAL_DESIGN_APPLICATION}]

Decisions take ``irn`` (DM/nnnnnn), ``decision_date``, ``effective_date``,
``affected_designs`` (``all`` or a list of design identifiers) and their own fields
(``grounds``, ``prior_refusal``, ``division``, ``designated``, ``category``, …).

The XML is written in the element order of the official ST.96 V6_0
``HagueOfficeToIBTransaction`` schema. :func:`build_package` returns the ZIP bytes.
"""

from __future__ import annotations

import datetime as _dt
import io
import tomllib
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

import yaml
from lxml import etree

from hws.st96 import specimens
from hws.st96.namespaces import COM, DGN, XSI, com, dgn
from hws.st96.transactions import ST96_VERSIONS, TransactionKind

NSMAP = {"com": COM, "dgn": DGN, "xsi": XSI}
DEFAULT_VERSION = "V6_0"
SCHEMA_LOCATION = "https://www.wipo.int/standards/XMLSchema/ST96/{v}/Design/Flatten/HagueOfficeToIBTransaction_{v}.xsd"
FORMAT_BY_SUFFIX = {".pdf": "PDF", ".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG"}


class BuildError(ValueError):
    """The description cannot be turned into a package; the message says what to fix."""


Spec = Mapping[str, Any]
Files = Mapping[str, bytes] | Path | str | None


# --------------------------------------------------------------------------- loading


def load_spec(path: Path | str) -> dict[str, Any]:
    """Read a YAML (``.yaml``/``.yml``) or TOML (``.toml``) description."""
    path = Path(path)
    text = path.read_bytes()
    try:
        if path.suffix.lower() == ".toml":
            data = tomllib.loads(text.decode("utf-8"))
        else:
            data = yaml.safe_load(text)
    except (yaml.YAMLError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise BuildError(f"{path}: cannot read the description: {exc}") from None
    if not isinstance(data, dict):
        raise BuildError(f"{path}: the description must be a mapping of keys to values")
    return data


# --------------------------------------------------------------------------- small helpers


def _sub(parent: etree._Element, tag: str, text: Any = None, **attrs: str) -> etree._Element:
    el = etree.SubElement(parent, tag)
    if text is not None:
        el.text = _str(text)
    for key, value in attrs.items():
        el.set(com(key), value)
    return el


def _str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()
    return str(value)


def _opt(parent: etree._Element, tag: str, value: Any, **attrs: str) -> etree._Element | None:
    if value is None or value == "":
        return None
    return _sub(parent, tag, value, **attrs)


def _need(spec: Spec, key: str, where: str) -> Any:
    value = spec.get(key)
    if value is None or value == "" or value == []:
        raise BuildError(f"{where}: '{key}' is required")
    return value


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _date(value: Any, where: str) -> str:
    if isinstance(value, _dt.datetime):
        return value.date().isoformat()
    if isinstance(value, _dt.date):
        return value.isoformat()
    try:
        return _dt.date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise BuildError(f"{where}: {value!r} is not a date (YYYY-MM-DD)") from None


# --------------------------------------------------------------------------- parties


def _name(parent: etree._Element, party: Spec) -> None:
    name = _sub(parent, com("Name"))
    if party.get("person"):
        _sub(_sub(name, com("PersonName")), com("PersonFullName"), party["person"])
    else:
        _sub(_sub(name, com("OrganizationName")), com("OrganizationStandardName"), _need(party, "name", "party"))


def _contact(parent: etree._Element, party: Spec) -> None:
    contact = _sub(parent, com("Contact"))
    _name(contact, party)
    lines = _list(party.get("address"))
    if lines or party.get("country"):
        addr = _sub(_sub(_sub(contact, com("PostalAddressBag")), com("PostalAddress")), com("PostalStructuredAddress"))
        for i, line in enumerate(lines or ["-"], start=1):
            _sub(addr, com("AddressLineText"), line, sequenceNumber=str(i))
        _opt(addr, com("CityName"), party.get("city"))
        _sub(addr, com("CountryCode"), _need(party, "country", "address"))
        _opt(addr, com("PostalCode"), party.get("postal_code"))
    if party.get("email"):
        _sub(_sub(contact, com("EmailAddressBag")), com("EmailAddressText"), party["email"])


def _applicant(parent: etree._Element, tag: str, party: Spec, seq: int) -> None:
    if not (party.get("name") or party.get("person")):
        raise BuildError(f"applicant {seq}: give 'name' (an organization) or 'person' (a person's full name)")
    el = _sub(parent, tag, sequenceNumber=str(seq))
    _opt(el, com("NationalityCode"), party.get("nationality"))
    if party.get("name") and not party.get("person"):
        _sub(el, com("LegalEntityName"), party["name"])
    nationality = party.get("nationality")
    domicile = party.get("domicile") or party.get("country")
    if nationality or domicile:
        ent = _sub(el, dgn("Entitlement"))
        if nationality:
            _sub(ent, com("EntitlementNationalityCode"), nationality)
        if domicile:
            _sub(_sub(ent, com("EntitlementDomiciled")), com("EntitlementDomiciledCode"), domicile)
    _opt(el, dgn("ApplicantContractingParty"), party.get("contracting_party") or domicile)
    _contact(el, party)


# --------------------------------------------------------------------------- designs


def _locarno(parent: etree._Element, value: Any, where: str) -> None:
    bag = _sub(parent, com("LocarnoClassificationBag"))
    items = _list(value)
    if not items:
        raise BuildError(f"{where}: 'locarno' is required (e.g. \"06-01\")")
    edition = "14"
    for item in items:
        if isinstance(item, Mapping):
            edition = str(item.get("edition", edition))
    _sub(bag, com("LocarnoClassificationEdition"), edition)
    for item in items:
        if isinstance(item, Mapping):
            klass, subclass = str(_need(item, "class", where)), item.get("subclass")
        else:
            klass, _, subclass = str(item).partition("-")
        cls = _sub(bag, com("LocarnoClassification"))
        _sub(cls, com("LocarnoClass"), klass.zfill(2))
        if subclass:
            _sub(_sub(cls, com("LocarnoSubclassBag")), com("LocarnoSubclass"), str(subclass).zfill(2))


def _designs(parent: etree._Element, designs: list[Spec], language: str, files: list[str]) -> int:
    bag = _sub(parent, dgn("HagueDesignBag"))
    views_total = 0
    for n, design in enumerate(designs, start=1):
        where = f"design {n}"
        el = _sub(bag, dgn("HagueDesign"))
        ident = str(design.get("id", n))
        _sub(el, dgn("DesignIdentifier"), ident)
        views = _list(_need(design, "views", where))
        _sub(el, dgn("ViewTotalQuantity"), len(views))
        _locarno(el, design.get("locarno"), where)
        _sub(
            _sub(el, com("ProductDescriptionTextBag")),
            com("ProductDescriptionText"),
            _need(design, "product", where),
            languageCode=language,
        )
        if design.get("description"):
            _sub(
                _sub(el, dgn("DesignDescriptionTextBag")),
                dgn("DesignDescriptionText"),
                design["description"],
                languageCode=language,
            )
        priorities = _list(design.get("priority") or design.get("priorities"))
        if priorities:
            pbag = _sub(el, dgn("PriorityBag"))
            for p in priorities:
                pel = _sub(pbag, dgn("Priority"))
                _sub(pel, com("PriorityCountryCode"), _need(p, "country", f"{where} priority"))
                if p.get("number"):
                    _sub(_sub(pel, com("ApplicationNumber")), com("ApplicationNumberText"), p["number"])
                _sub(pel, com("PriorityApplicationFilingDate"), _date(_need(p, "date", f"{where} priority"), where))
        vbag = _sub(el, dgn("ViewBag"))
        for m, view in enumerate(views, start=1):
            view = {"file": view} if isinstance(view, str) else view
            file = str(_need(view, "file", f"{where} view {m}"))
            files.append(file)
            vel = _sub(vbag, dgn("View"))
            _sub(vel, com("FileName"), file)
            _sub(vel, dgn("ViewIdentifier"), view.get("id", f"{ident}.{m}"))
            fmt = FORMAT_BY_SUFFIX.get(PurePosixPath(file).suffix.lower())
            if fmt in ("JPEG", "PNG"):
                _sub(vel, dgn("ViewFileFormatCategory"), fmt)
            _opt(vel, dgn("ViewTypeCategory"), view.get("type"))
        views_total += len(views)
    return views_total


#: the deferment keys of a spec and ST.96's com:periodCategory for each ("In day" is not in
#: the V6_0 enumeration: structural checks only)
_PERIOD_UNITS = {"years": "In year", "months": "In month", "weeks": "In week", "days": "In day"}


def _deferment_period(deferment: Any) -> tuple[int | None, str]:
    """``{months: 12}`` (or ``weeks``, ``years``, ``days``), a bare number of months, or
    ``true`` (deferment asked without a period)."""
    if deferment is True:
        return None, "In month"
    if isinstance(deferment, Mapping):
        for key, unit in _PERIOD_UNITS.items():
            if deferment.get(key) is not None:
                return int(deferment[key]), unit
        return None, "In month"
    return int(deferment), "In month"


def _documents(parent: etree._Element, documents: list[Spec], files: list[str]) -> None:
    if not documents:
        return
    bag = _sub(parent, com("DocumentIncludedBag"))
    for n, doc in enumerate(documents, start=1):
        where = f"document {n}"
        file = str(_need(doc, "file", where))
        files.append(file)
        el = _sub(bag, com("DocumentIncluded"))
        _sub(el, com("DocumentName"), doc.get("name") or doc.get("kind") or PurePosixPath(file).name)
        _sub(el, com("FileName"), file)
        _opt(el, com("DocumentFormatCategory"), FORMAT_BY_SUFFIX.get(PurePosixPath(file).suffix.lower()))
        _opt(el, com("DocumentKindCategory"), doc.get("kind"))
        if doc.get("date"):
            _sub(el, com("DocumentDate"), _date(doc["date"], where))


def _affected(parent: etree._Element, value: Any) -> None:
    el = _sub(parent, dgn("AffectedDesign"))
    if value is None or value == "all":
        _sub(el, dgn("AllDesignsIndicator"), True)
    else:
        bag = _sub(el, dgn("DesignIdentifierBag"))
        for ident in _list(value):
            _sub(bag, dgn("DesignIdentifier"), ident)


def _payment(parent: etree._Element, pay: Spec) -> None:
    el = _sub(_sub(parent, com("PaymentBag")), com("Payment"))
    _opt(el, com("PaymentIdentifier"), pay.get("identifier"))
    _opt(el, com("PaymentReference"), pay.get("reference"))
    _opt(el, com("PaymentModeCategory"), pay.get("mode"))
    if pay.get("account"):
        acc = _sub(_sub(el, com("PaymentMethod")), com("CurrentAccount"))
        _sub(acc, com("AccountNumber"), pay["account"])
        if pay.get("holder"):
            _sub(_sub(_sub(acc, com("AccountHolderName")), com("PersonName")), com("PersonFullName"), pay["holder"])
    elif pay.get("method"):
        _sub(_sub(el, com("PaymentMethod")), com("OtherPaymentMethod"), pay["method"])
    if pay.get("payer"):
        _sub(_sub(el, com("PayerName")), com("EntityName"), pay["payer"])
    if pay.get("date"):
        _sub(el, com("PaymentDate"), _date(pay["date"], "payment"))
    _sub(el, com("FeePayableTotalAmount"), _need(pay, "amount", "payment"), currencyCode=str(pay.get("currency", "CHF")))


def _comment(parent: etree._Element, spec: Spec, language: str) -> None:
    _opt(parent, com("CommentText"), spec.get("comment"), languageCode=language)


# --------------------------------------------------------------------------- transactions


def _application(bag: etree._Element, spec: Spec, files: list[str]) -> None:
    el = _sub(bag, dgn(TransactionKind.APPLICATION.value))
    language = str(spec.get("language", "en"))
    _sub(el, com("IPOfficeCode"), spec["office"])
    if spec.get("filing_date"):
        _sub(el, com("ReceivingOfficeDate"), _date(spec["filing_date"], "filing_date"))
    _sub(el, com("ApplicationLanguageCode"), language)
    _opt(el, com("OfficeReferenceIdentifier"), spec.get("office_reference"))
    _opt(el, com("ApplicantFileReference"), spec.get("applicant_reference"))
    applicants = _list(_need(spec, "applicants", "application"))
    abag = _sub(el, dgn("ApplicantBag"))
    for n, party in enumerate(applicants, start=1):
        _applicant(abag, dgn("Applicant"), party, n)
    if spec.get("representative"):
        rep = _sub(el, com("Representative"))
        _contact(rep, spec["representative"])
    designs = _list(_need(spec, "designs", "application"))
    _sub(el, dgn("DesignTotalQuantity"), len(designs))
    view_total = _sub(el, dgn("ViewTotalQuantity"), 0)
    designations = _list(_need(spec, "designations", "application"))
    dbag = _sub(el, dgn("DesignatedCountryBag"))
    for item in designations:
        item = {"code": item} if isinstance(item, str) else item
        dc = _sub(dbag, dgn("DesignatedCountry"))
        _sub(dc, com("DesignatedCountryCode"), _need(item, "code", "designation"))
        _opt(dc, dgn("HagueAgreementActCategory"), item.get("act"))
    view_total.text = str(_designs(el, designs, language, files))
    deferment = spec.get("deferment")
    immediate = bool(spec.get("immediate_publication", False))
    _sub(el, dgn("ImmediatePublicationIndicator"), immediate)
    _sub(el, dgn("PublicationDefermentIndicator"), bool(deferment))
    if deferment:
        period, unit = _deferment_period(deferment)
        if period is not None:
            _sub(el, dgn("DefermentPeriod"), period, periodCategory=unit)
    _sub(el, com("LatePaymentRequestIndicator"), bool(spec.get("late_payment", False)))
    _documents(el, _list(spec.get("documents")), files)
    if spec.get("payment"):
        _payment(el, spec["payment"])


def _decision_head(el: etree._Element, spec: Spec, *, record: bool = True) -> None:
    _sub(el, com("InternationalRegistrationNumber"), _need(spec, "irn", "decision"))
    if record:
        _opt(el, com("RecordIdentifier"), spec.get("record_id"))
    _opt(el, com("OfficeReferenceIdentifier"), spec.get("office_reference"))


def _today(spec: Spec, key: str) -> str:
    return _date(spec.get(key) or spec.get("decision_date") or _dt.date.today(), key)


def _designs_opt(el: etree._Element, spec: Spec, files: list[str]) -> None:
    if spec.get("designs"):
        _designs(el, _list(spec["designs"]), str(spec.get("language", "en")), files)


def _tail(el: etree._Element, spec: Spec, files: list[str], *, documents: bool = True) -> None:
    """The common tail: documents, office specific content, comment."""
    language = str(spec.get("language", "en"))
    if documents:
        _documents(el, _list(spec.get("documents")), files)
    _opt(el, com("OfficeSpecificContent"), spec.get("office_specific"))
    _comment(el, spec, language)


def _grant(bag: etree._Element, spec: Spec, files: list[str]) -> None:
    el = _sub(bag, dgn(TransactionKind.GRANT_PROTECTION.value))
    if "prior_refusal" in spec:
        el.set(dgn("priorRefusalIndicator"), _str(bool(spec["prior_refusal"])))
    _decision_head(el, spec)
    _sub(el, com("DecisionDate"), _today(spec, "decision_date"))
    _sub(el, com("DecisionEffectiveDate"), _today(spec, "effective_date"))
    _affected(el, spec.get("affected_designs"))
    _designs_opt(el, spec, files)
    _opt(el, dgn("Amendment"), spec.get("amendment"))
    _tail(el, spec, files)


def _refusal(bag: etree._Element, spec: Spec, files: list[str]) -> None:
    el = _sub(bag, dgn(TransactionKind.REFUSAL.value))
    language = str(spec.get("language", "en"))
    _decision_head(el, spec)
    _sub(el, com("DecisionDate"), _today(spec, "decision_date"))
    _affected(el, spec.get("affected_designs"))
    _designs_opt(el, spec, files)
    grounds = _list(spec.get("grounds"))
    if grounds:
        gbag = _sub(el, dgn("DecisionGroundsBag"))
        for g in grounds:
            g = {"text": g} if isinstance(g, str) else g
            gel = _sub(gbag, dgn("DecisionGrounds"))
            _sub(gel, dgn("DecisionGroundsText"), _need(g, "text", "grounds"), languageCode=language)
            _opt(gel, dgn("DecisionGroundsCategory"), g.get("category"))
    _opt(el, com("LegalProvisionText"), spec.get("legal_provision"))
    if spec.get("remedy"):
        _sub(_sub(el, dgn("DecisionRemedyTextBag")), dgn("DecisionRemedyText"), spec["remedy"], languageCode=language)
    # the schema requires com:DocumentIncludedBag here; without documents it is left out
    # and the validator (and the schema) say what is missing
    _tail(el, spec, files)


def _refusal_withdrawal(bag: etree._Element, spec: Spec, files: list[str]) -> None:
    el = _sub(bag, dgn(TransactionKind.REFUSAL_WITHDRAWAL.value))
    _decision_head(el, spec)
    _affected(el, spec.get("affected_designs"))
    _designs_opt(el, spec, files)
    _sub(el, com("DecisionDate"), _today(spec, "decision_date"))
    _sub(el, com("DecisionEffectiveDate"), _today(spec, "effective_date"))
    _opt(el, dgn("Amendment"), spec.get("amendment"))
    _tail(el, spec, files)


def _invalidation(bag: etree._Element, spec: Spec, files: list[str]) -> None:
    el = _sub(bag, dgn(TransactionKind.INVALIDATION.value))
    _decision_head(el, spec)
    _sub(el, com("DecisionDate"), _today(spec, "decision_date"))
    _sub(el, com("DecisionEffectiveDate"), _today(spec, "effective_date"))
    _affected(el, spec.get("affected_designs"))
    _designs_opt(el, spec, files)
    if spec.get("remedy"):
        _sub(
            _sub(el, dgn("DecisionRemedyTextBag")),
            dgn("DecisionRemedyText"),
            spec["remedy"],
            languageCode=str(spec.get("language", "en")),
        )
    _tail(el, spec, files)


def _division(bag: etree._Element, spec: Spec, files: list[str]) -> None:
    el = _sub(bag, dgn(TransactionKind.DIVISION.value))
    _decision_head(el, spec, record=False)
    _affected(el, spec.get("affected_designs"))
    parts = _list(_need(spec, "division", "division"))
    dbag = _sub(el, dgn("DivisionDesignIdentificationBag"))
    for part in parts:
        part = {"design": part} if isinstance(part, (str, int)) else part
        pel = _sub(dbag, dgn("DivisionDesignIdentification"))
        _sub(pel, dgn("DesignIdentifier"), _need(part, "design", "division"))
        if part.get("registration_number"):
            _sub(pel, com("RegistrationNumber"), part["registration_number"])
        elif part.get("application_number"):
            _sub(_sub(pel, com("ApplicationNumber")), com("ApplicationNumberText"), part["application_number"])
    _designs_opt(el, spec, files)
    _opt(el, dgn("DomesticApplicationRegistrationReference"), spec.get("domestic_reference"))
    _tail(el, spec, files)


def _fee_payable(bag: etree._Element, spec: Spec, files: list[str]) -> None:
    el = _sub(bag, dgn(TransactionKind.SECOND_PART_FEE_PAYABLE.value))
    _decision_head(el, spec, record=False)
    if "affected_designs" in spec:
        _affected(el, spec["affected_designs"])
    if spec.get("payment_due_date"):
        _sub(el, com("PaymentDueDate"), _date(spec["payment_due_date"], "payment_due_date"))
    _designs_opt(el, spec, files)
    _sub(el, com("DecisionEffectiveDate"), _today(spec, "effective_date"))
    _opt(el, com("BusinessEntityStatusCategory"), spec.get("business_status"))
    _tail(el, spec, files, documents=False)


def _fee_paid(bag: etree._Element, spec: Spec, files: list[str]) -> None:
    el = _sub(bag, dgn(TransactionKind.SECOND_PART_FEE_PAID.value))
    _decision_head(el, spec)
    designated = _need(spec, "designated", "second part fee paid")
    designated = {"code": designated} if isinstance(designated, str) else designated
    dc = _sub(el, dgn("DesignatedCountry"))
    _sub(dc, com("DesignatedCountryCode"), _need(designated, "code", "designated"))
    _opt(dc, dgn("HagueAgreementActCategory"), designated.get("act"))
    _sub(el, com("PaymentDate"), _today(spec, "payment_date"))
    _sub(el, com("FeeCalculationDate"), _today(spec, "fee_calculation_date"))
    if "affected_designs" in spec:
        _affected(el, spec["affected_designs"])
    _designs_opt(el, spec, files)
    _tail(el, spec, files, documents=False)


def _cancellation(bag: etree._Element, spec: Spec, files: list[str]) -> None:
    el = _sub(bag, dgn(TransactionKind.CANCELLATION_NON_PAYMENT.value))
    _decision_head(el, spec, record=False)
    if spec.get("decision_date"):
        _sub(el, com("DecisionDate"), _date(spec["decision_date"], "decision_date"))
    if "affected_designs" in spec:
        _affected(el, spec["affected_designs"])
    _designs_opt(el, spec, files)
    _opt(el, com("OfficeSpecificContent"), spec.get("office_specific"))
    # in this type the document bag comes after the signature, before the comment
    _documents(el, _list(spec.get("documents")), files)
    _comment(el, spec, str(spec.get("language", "en")))


def _generic(bag: etree._Element, spec: Spec, files: list[str]) -> None:
    el = _sub(bag, dgn(TransactionKind.GENERIC_OFFICE_COMMUNICATION.value))
    if spec.get("irn"):
        _sub(el, com("InternationalRegistrationNumber"), spec["irn"])
    else:
        _sub(el, com("OfficeReferenceIdentifier"), _need(spec, "office_reference", "generic communication (or 'irn')"))
    _sub(el, dgn("HagueGenericOfficeCommunicationCategory"), _need(spec, "category", "generic communication"))
    if "affected_designs" in spec:
        _affected(el, spec["affected_designs"])
    _designs_opt(el, spec, files)
    if spec.get("effective_date") or spec.get("decision_date"):
        _sub(el, com("DecisionEffectiveDate"), _today(spec, "effective_date"))
    _tail(el, spec, files)


_WRITERS = {
    TransactionKind.APPLICATION: _application,
    TransactionKind.GRANT_PROTECTION: _grant,
    TransactionKind.REFUSAL: _refusal,
    TransactionKind.REFUSAL_WITHDRAWAL: _refusal_withdrawal,
    TransactionKind.INVALIDATION: _invalidation,
    TransactionKind.DIVISION: _division,
    TransactionKind.SECOND_PART_FEE_PAYABLE: _fee_payable,
    TransactionKind.SECOND_PART_FEE_PAID: _fee_paid,
    TransactionKind.CANCELLATION_NON_PAYMENT: _cancellation,
    TransactionKind.GENERIC_OFFICE_COMMUNICATION: _generic,
}


# --------------------------------------------------------------------------- public API


def transaction_kind(spec: Spec) -> TransactionKind:
    try:
        return TransactionKind.parse(str(_need(spec, "transaction", "description")))
    except ValueError as exc:
        raise BuildError(str(exc)) from None


def build_xml(spec: Spec) -> tuple[bytes, list[str]]:
    """The ST.96 XML for ``spec`` and the package paths it references (in order)."""
    kind = transaction_kind(spec)
    version = str(spec.get("version", spec.get("st96_version", DEFAULT_VERSION)))
    if version not in ST96_VERSIONS:
        raise BuildError(f"version {version!r} is not one of {', '.join(ST96_VERSIONS)}")
    office = str(_need(spec, "office", "description")).upper()
    spec = {**spec, "office": office}
    root = etree.Element(dgn("HagueOfficeToIBTransaction"), nsmap=NSMAP)
    root.set(com("st96Version"), version)
    root.set(f"{{{XSI}}}schemaLocation", f"{DGN} {SCHEMA_LOCATION.format(v=version)}")
    header = _sub(root, dgn("HagueOfficeTransactionHeader"))
    _sub(header, com("IPOfficeCode"), office)
    _sub(header, com("RequestDate"), _date(spec.get("request_date") or _dt.date.today(), "request_date"))
    _sub(header, com("TransactionTotalQuantity"), 1)
    count = _sub(_sub(header, dgn("HagueOfficeTransactionCountBag")), dgn("HagueOfficeTransactionCount"))
    _sub(count, dgn("HagueOfficeTransactionCategory"), kind.header_category)
    _sub(count, com("TransactionTotalQuantity"), 1)
    bag = _sub(root, dgn("HagueOfficeToIBBag"))
    files: list[str] = []
    try:
        _WRITERS[kind](bag, spec, files)
    except (AttributeError, TypeError) as exc:
        raise BuildError(f"the description has a value of the wrong shape: {exc}") from None
    xml = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return xml, list(dict.fromkeys(files))


def _file_source(files: Files, name: str, *, fill_missing: bool) -> bytes:
    if isinstance(files, Mapping):
        if name in files:
            return files[name]
    elif files is not None:
        base = Path(files)
        path = (base / name).resolve()
        if not path.is_relative_to(base.resolve()):
            raise BuildError(f"{name!r} points outside {base}")
        if path.is_file():
            return path.read_bytes()
    if fill_missing:
        try:
            return specimens.for_name(name)
        except ValueError as exc:
            raise BuildError(str(exc)) from None
    raise BuildError(
        f"{name!r} is referenced but not provided (provide the file, or use specimens: --fill-missing / fill_missing=True)"
    )


def write_zip(entries: Iterable[tuple[str | zipfile.ZipInfo, bytes]]) -> bytes:
    """A deflated ZIP of ``entries`` in the order given, with fixed timestamps (reproducible).

    A :class:`zipfile.ZipInfo` in place of a name is written as given (tests use this
    to craft links, flags and attributes)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            if isinstance(name, zipfile.ZipInfo):
                info = name
            else:
                info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o100644 << 16
                info.create_system = 3
            zf.writestr(info, data)
    return out.getvalue()


def build_package(
    spec: Spec,
    files: Files = None,
    *,
    fill_missing: bool = False,
    xml_name: str | None = None,
) -> bytes:
    """Build the package ZIP for ``spec``.

    ``files`` gives the bytes of every referenced file: a mapping of package path → bytes,
    or a folder the paths are relative to. ``fill_missing`` fills files not given with a
    specimen JPEG/PNG/PDF (tests, dry runs).
    """
    xml, refs = build_xml(spec)
    name = xml_name or str(spec.get("xml_name") or f"{transaction_kind(spec).value}.xml")
    entries = [(name, xml)]
    entries += [(ref, _file_source(files, ref, fill_missing=fill_missing)) for ref in refs]
    return write_zip(entries)


def build_package_file(spec_path: Path | str, out: Path | str, *, fill_missing: bool = False, version: str | None = None) -> Path:
    """Build from a YAML/TOML description on disk; files are relative to its folder."""
    spec_path = Path(spec_path)
    spec = load_spec(spec_path)
    if version:
        spec["version"] = version
    data = build_package(spec, spec_path.parent, fill_missing=fill_missing)
    out = Path(out)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(out)
    return out
