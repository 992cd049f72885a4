"""From what the service stores to the writers' inputs: a :class:`Registration` per
registered application (:func:`registration_from_service_request`) and a :class:`Decision`
per recorded decision (:func:`decision_from_service_request`).

The stored JSON gives the facts the service checked (dates, designs, views, offices);
the office's own ST.96 XML, when kept, the rest (holders, representatives, Acts,
descriptions, priorities, grounds). Paths into that XML are written ``com:…/dgn:…``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from lxml import etree

from hws.domain.calendar_rules import deferment_expiry
from hws.st96 import safexml
from hws.st96.namespaces import NSMAP
from hws.st96.publication.model import (
    Decision,
    DecisionDocument,
    Design,
    Designation,
    Grounds,
    Party,
    Priority,
    PublicationError,
    Registration,
    View,
)


def _get(record: Any, key: str) -> Any:
    if isinstance(record, Mapping):
        return record.get(key)
    return getattr(record, key, None)


def _as_date(value: Any) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _files_by_path(files: Iterable[Any]) -> dict[str, Any]:
    return {str(_get(f, "path")): f for f in files}


def _ns(tag: str) -> str:
    """``com:Name`` → ``{<ST.96 Common namespace>}Name``; ``dgn:`` likewise."""
    prefix, _, local = tag.partition(":")
    return f"{{{NSMAP[prefix]}}}{local}"


def _find(el: etree._Element | None, path: str) -> etree._Element | None:
    if el is None:
        return None
    for step in path.split("/"):
        el = el.find(_ns(step))
        if el is None:
            return None
    return el


def _findtext(el: etree._Element | None, path: str) -> str | None:
    found = _find(el, path)
    if found is None or found.text is None:
        return None
    return found.text.strip() or None


def _source_tree(source_xml: bytes | None) -> etree._Element | None:
    if not source_xml:
        return None
    return safexml.parse(source_xml).getroot()


def _transaction_element(root: etree._Element | None) -> etree._Element | None:
    bag = _find(root, "dgn:HagueOfficeToIBBag")
    if bag is None:
        return None
    for child in bag:
        if isinstance(child.tag, str):
            return child
    return None


def _party_from_xml(el: etree._Element) -> Party | None:
    contact = _find(el, "com:Contact")
    name_el = _find(contact, "com:Name")
    person, name = False, None
    if name_el is not None:
        name = _findtext(name_el, "com:OrganizationName/com:OrganizationStandardName")
        if name is None:
            pn = _find(name_el, "com:PersonName")
            if pn is not None:
                person = True
                name = _findtext(pn, "com:PersonFullName") or " ".join(
                    t.strip() for t in pn.itertext() if t.strip()
                ) or None
        if name is None:
            name = _findtext(name_el, "com:EntityName")
    legal = _findtext(el, "com:LegalEntityName")
    name = name or legal
    if not name:
        return None
    ent = _find(el, "dgn:Entitlement")
    structured = _find(contact, "com:PostalAddressBag/com:PostalAddress/com:PostalStructuredAddress")
    if structured is not None:
        lines = tuple((t.text or "").strip() for t in structured.findall(_ns("com:AddressLineText")) if (t.text or "").strip())
        city = _findtext(structured, "com:CityName")
        country = _findtext(structured, "com:CountryCode")
        postal = _findtext(structured, "com:PostalCode")
    else:
        address = _find(contact, "com:PostalAddressBag/com:PostalAddress")
        lines = tuple(
            (t.text or "").strip() for t in (address.findall(_ns("com:PostalAddressText")) if address is not None else [])
            if (t.text or "").strip()
        )
        city = country = postal = None
    return Party(
        name=name,
        person=person,
        legal_entity_name=legal,
        nationality=_findtext(el, "com:NationalityCode"),
        entitlement_nationality=_findtext(ent, "com:EntitlementNationalityCode"),
        entitlement_domicile=_findtext(ent, "com:EntitlementDomiciled/com:EntitlementDomiciledCode"),
        contracting_party=_findtext(el, "dgn:ApplicantContractingParty"),
        address_lines=lines,
        city=city,
        postal_code=postal,
        country=country,
    )


def _priorities_from_xml(design: etree._Element | None) -> tuple[Priority, ...]:
    out = []
    bag = _find(design, "dgn:PriorityBag")
    for p in bag.findall(_ns("dgn:Priority")) if bag is not None else []:
        country, day = _findtext(p, "com:PriorityCountryCode"), _findtext(p, "com:PriorityApplicationFilingDate")
        if country and day:
            out.append(Priority(country, date.fromisoformat(day[:10]), _findtext(p, "com:ApplicationNumber/com:ApplicationNumberText")))
    return tuple(out)


def _deferment_expiry(data: Mapping[str, Any], filing: date, designs: Sequence[Design]) -> date | None:
    deferment = data.get("deferment") or {}
    if not deferment.get("requested"):
        return None
    period = deferment.get("period")
    priority_dates = [p.filing_date for d in designs for p in d.priorities]
    priority_dates += [d for p in data.get("priorities") or [] if (d := _as_date(p.get("filing_date")))]
    base = min([filing, *priority_dates])
    # the rule examination used for the expected publication date (hws.domain.calendar_rules)
    return deferment_expiry(base, period if isinstance(period, int) else None, deferment.get("unit"))


def registration_from_service_request(
    data: Mapping[str, Any],
    files: Iterable[Any],
    source_xml: bytes | None,
    *,
    irn: str,
    srn: str,
    registration_date: date,
    expected_publication_date: date,
    filing_date: date | None = None,
) -> Registration:
    """A :class:`Registration` from what the service stores for a registered application.

    ``data``: the SR's JSON (:func:`hws.store.service_requests.bibliographic_data`);
    ``files``: its stored files (objects or mappings with ``path``, ``sha256``,
    ``media_type``); ``source_xml``: the office's ST.96 XML, parsed with
    :func:`hws.st96.safexml.parse` for holders, representatives, designations' Acts,
    design descriptions and priorities (without it, holders are names only).
    """
    stored = _files_by_path(files)
    root = _source_tree(source_xml)
    txn = _transaction_element(root)
    filing = filing_date or _as_date(data.get("filing_date")) or _as_date(data.get("request_date"))
    if filing is None:
        raise PublicationError(f"{irn}: no filing date")

    xml_designs: dict[str, etree._Element] = {}
    bag = _find(txn, "dgn:HagueDesignBag")
    for de in bag.findall(_ns("dgn:HagueDesign")) if bag is not None else []:
        ident = _findtext(de, "dgn:DesignIdentifier")
        if ident is not None:
            xml_designs.setdefault(ident, de)

    designs = []
    for n, d in enumerate(data.get("designs") or [], start=1):
        ident = str(d.get("identifier") or n)
        de = xml_designs.get(ident)
        views = []
        for m, v in enumerate(d.get("views") or [], start=1):
            path = str(v.get("file"))
            f = stored.get(path)
            if f is None:
                raise PublicationError(f"{irn} design {ident}: the view file {path!r} is not among the stored files")
            views.append(
                View(
                    identifier=str(v.get("identifier") or f"{ident}.{m}"),
                    view_type=v.get("view_type"),
                    file_name=path,
                    sha256=str(_get(f, "sha256")),
                    media_type=str(_get(f, "media_type") or ""),
                )
            )
        edition = _findtext(de, "com:LocarnoClassificationBag/com:LocarnoClassificationEdition") or "14"
        description = _findtext(de, "dgn:DesignDescriptionTextBag/dgn:DesignDescriptionText")
        designs.append(
            Design(
                identifier=ident,
                product=str(d.get("product") or _findtext(de, "com:ProductDescriptionTextBag/com:ProductDescriptionText") or "-"),
                locarno_classes=tuple(d.get("locarno_classes") or ()),
                views=tuple(views),
                description=description,
                priorities=_priorities_from_xml(de),
                locarno_edition=edition,
            )
        )

    acts: dict[str, str | None] = {}
    dbag = _find(txn, "dgn:DesignatedCountryBag")
    for dc in dbag.findall(_ns("dgn:DesignatedCountry")) if dbag is not None else []:
        code = _findtext(dc, "com:DesignatedCountryCode")
        if code:
            acts.setdefault(code, _findtext(dc, "dgn:HagueAgreementActCategory"))
    offices = list(dict.fromkeys(data.get("designated_offices") or acts))
    designations = tuple(Designation(code, acts.get(code)) for code in offices)

    holders: list[Party] = []
    abag = _find(txn, "dgn:ApplicantBag")
    for app in abag.findall(_ns("dgn:Applicant")) if abag is not None else []:
        party = _party_from_xml(app)
        if party is not None:
            holders.append(party)
    if not holders:
        holders = [Party(name=str(name)) for name in data.get("applicants") or []]
    representatives = []
    for rep in txn.findall(_ns("com:Representative")) if txn is not None else []:
        party = _party_from_xml(rep)
        if party is not None:
            representatives.append(party)

    language = _findtext(txn, "com:ApplicationLanguageCode") or str(data.get("language") or "en")
    return Registration(
        irn=irn,
        srn=srn,
        registration_date=registration_date,
        filing_date=filing,
        expected_publication_date=expected_publication_date,
        holders=tuple(holders),
        designations=designations,
        designs=tuple(designs),
        language=language,
        deferment_expiry_date=_deferment_expiry(data, filing, designs),
        office_reference=data.get("office_reference"),
        applicant_reference=_findtext(txn, "com:ApplicantFileReference"),
        representatives=tuple(representatives),
    )


def decision_from_service_request(
    data: Mapping[str, Any],
    files: Iterable[Any],
    source_xml: bytes | None,
    *,
    srn: str,
    recorded_date: date,
    irn: str | None = None,
) -> Decision:
    """A :class:`Decision` from what the service stores for a recorded decision.

    The kind, office, IRN, dates, affected designs and office reference come from
    ``data``; the decision document is the first stored PDF (``files``); grounds,
    remedies, amendment, comment and the prior-refusal indicator from ``source_xml``.
    """
    kind = str(data.get("transaction"))
    target = irn or data.get("irn")
    if not target:
        raise PublicationError(f"record {srn}: the decision names no international registration")
    txn = _transaction_element(_source_tree(source_xml))
    document = None
    docs = {str(d.get("file")): d for d in data.get("documents") or []}
    for f in sorted(files, key=lambda f: str(_get(f, "path"))):
        path = str(_get(f, "path"))
        media = str(_get(f, "media_type") or "")
        if media == "application/pdf" and (path in docs or not docs):
            kind_category = (docs.get(path) or {}).get("kind") or _get(f, "kind")
            document = DecisionDocument(path, str(_get(f, "sha256")), media, kind_category)
            break
    grounds = []
    gbag = _find(txn, "dgn:DecisionGroundsBag")
    for g in gbag.findall(_ns("dgn:DecisionGrounds")) if gbag is not None else []:
        texts = tuple((t.text or "").strip() for t in g.findall(_ns("dgn:DecisionGroundsText")) if (t.text or "").strip())
        categories = tuple((t.text or "").strip() for t in g.findall(_ns("dgn:DecisionGroundsCategory")) if (t.text or "").strip())
        if texts:
            grounds.append(Grounds(texts, categories))
    rbag = _find(txn, "dgn:DecisionRemedyTextBag")
    remedies = tuple(
        (t.text or "").strip() for t in (rbag.findall(_ns("dgn:DecisionRemedyText")) if rbag is not None else []) if (t.text or "").strip()
    )
    prior = txn.get(_ns("dgn:priorRefusalIndicator")) if txn is not None else None
    language = "en"
    if txn is not None:
        for el in txn.iter():
            if isinstance(el.tag, str) and el.get(_ns("com:languageCode")):
                language = el.get(_ns("com:languageCode"))
                break
    affected = data.get("affected_designs")
    return Decision(
        irn=str(target),
        srn=srn,
        kind=kind,
        office=str(data.get("office")),
        recorded_date=recorded_date,
        decision_date=_as_date(data.get("decision_date")),
        effective_date=_as_date(data.get("decision_effective_date")),
        affected_designs=tuple(str(a) for a in affected) if affected else None,
        document=document,
        office_reference=data.get("office_reference"),
        grounds=tuple(grounds),
        remedies=remedies,
        amendment=_findtext(txn, "dgn:Amendment"),
        comment=_findtext(txn, "com:CommentText"),
        prior_refusal=None if prior is None else prior.strip() in ("true", "1"),
        language=language,
    )
