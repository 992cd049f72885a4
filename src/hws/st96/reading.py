"""What the register and the bulletin need from an accepted transaction, beyond what the
package rules check: parties with their addresses, designations with their Acts, each
design's description, priorities and Locarno edition, and a decision's grounds,
remedies and indicators. Read once, at import, into the package's content
(:class:`hws.st96.package.PackageContent`); publication never reads the XML again.

Paths are written ``com:…/dgn:…`` and resolved by :func:`hws.st96.namespaces.clark`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from lxml import etree

from hws.st96.namespaces import clark


@dataclass(frozen=True, slots=True)
class Party:
    """A holder (the applicant at registration) or a representative."""

    name: str
    person: bool = False
    legal_entity_name: str | None = None
    nationality: str | None = None
    entitlement_nationality: str | None = None
    entitlement_domicile: str | None = None
    contracting_party: str | None = None
    address_lines: tuple[str, ...] = ()
    city: str | None = None
    postal_code: str | None = None
    country: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "address_lines", _strings(self.address_lines))


@dataclass(frozen=True, slots=True)
class Designation:
    office: str
    act: str | None = None  # Act1999, Act1960 or None


@dataclass(frozen=True, slots=True)
class Grounds:
    texts: tuple[str, ...]
    categories: tuple[str, ...] = ()  # dgn:DecisionGroundsCategory values

    def __post_init__(self) -> None:
        object.__setattr__(self, "texts", _strings(self.texts))
        object.__setattr__(self, "categories", _strings(self.categories))


@dataclass(frozen=True, slots=True)
class DesignPriority:
    """A priority claimed for one design (``dgn:HagueDesign/dgn:PriorityBag``)."""

    country: str
    filing_date: date
    number: str | None = None


@dataclass(frozen=True, slots=True)
class DesignDetails:
    description: str | None = None
    locarno_edition: str | None = None
    priorities: tuple[DesignPriority, ...] = ()


@dataclass(frozen=True, slots=True)
class DecisionDetails:
    grounds: tuple[Grounds, ...] = ()
    remedies: tuple[str, ...] = ()
    amendment: str | None = None
    comment: str | None = None
    prior_refusal: bool | None = None


def _strings(value: str | Iterable[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def find(el: etree._Element | None, path: str) -> etree._Element | None:
    for step in path.split("/"):
        if el is None:
            return None
        el = el.find(clark(step))
    return el


def findtext(el: etree._Element | None, path: str) -> str | None:
    found = find(el, path)
    if found is None or found.text is None:
        return None
    return found.text.strip() or None


def _texts(elements: Iterable[etree._Element]) -> tuple[str, ...]:
    return tuple(text for el in elements if (text := (el.text or "").strip()))


def _all(el: etree._Element | None, path: str) -> list[etree._Element]:
    """The ``path``'s last step under ``el``'s ``path`` parent, e.g. every ``dgn:Applicant``."""
    parent_path, _, last = path.rpartition("/")
    parent = find(el, parent_path) if parent_path else el
    return [] if parent is None else parent.findall(clark(last))


def party(el: etree._Element) -> Party | None:
    """An applicant or representative element as a :class:`Party` (``None`` without a name)."""
    contact = find(el, "com:Contact")
    name_el = find(contact, "com:Name")
    person, name = False, None
    if name_el is not None:
        name = findtext(name_el, "com:OrganizationName/com:OrganizationStandardName")
        if name is None:
            person_name = find(name_el, "com:PersonName")
            if person_name is not None:
                person = True
                name = (
                    findtext(person_name, "com:PersonFullName")
                    or " ".join(t.strip() for t in person_name.itertext() if isinstance(t, str) and t.strip())
                    or None
                )
        if name is None:
            name = findtext(name_el, "com:EntityName")
    legal = findtext(el, "com:LegalEntityName")
    name = name or legal
    if not name:
        return None
    entitlement = find(el, "dgn:Entitlement")
    structured = find(contact, "com:PostalAddressBag/com:PostalAddress/com:PostalStructuredAddress")
    if structured is not None:
        lines = _texts(structured.findall(clark("com:AddressLineText")))
        city = findtext(structured, "com:CityName")
        country = findtext(structured, "com:CountryCode")
        postal = findtext(structured, "com:PostalCode")
    else:
        lines = _texts(_all(contact, "com:PostalAddressBag/com:PostalAddress/com:PostalAddressText"))
        city = country = postal = None
    return Party(
        name=name,
        person=person,
        legal_entity_name=legal,
        nationality=findtext(el, "com:NationalityCode"),
        entitlement_nationality=findtext(entitlement, "com:EntitlementNationalityCode"),
        entitlement_domicile=findtext(entitlement, "com:EntitlementDomiciled/com:EntitlementDomiciledCode"),
        contracting_party=findtext(el, "dgn:ApplicantContractingParty"),
        address_lines=lines,
        city=city,
        postal_code=postal,
        country=country,
    )


def holders(transaction: etree._Element) -> tuple[Party, ...]:
    return tuple(p for el in _all(transaction, "dgn:ApplicantBag/dgn:Applicant") if (p := party(el)) is not None)


def representatives(transaction: etree._Element) -> tuple[Party, ...]:
    return tuple(p for el in transaction.findall(clark("com:Representative")) if (p := party(el)) is not None)


def designations(transaction: etree._Element) -> tuple[Designation, ...]:
    """Each designated office once, in document order, with its Act (the first given)."""
    acts: dict[str, str | None] = {}
    for el in _all(transaction, "dgn:DesignatedCountryBag/dgn:DesignatedCountry"):
        code = findtext(el, "com:DesignatedCountryCode")
        if code:
            acts.setdefault(code, findtext(el, "dgn:HagueAgreementActCategory"))
    return tuple(Designation(code, act) for code, act in acts.items())


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text[:10]) if text else None
    except ValueError:
        return None


def _design_priorities(design: etree._Element) -> tuple[DesignPriority, ...]:
    out = []
    for el in _all(design, "dgn:PriorityBag/dgn:Priority"):
        country, day = findtext(el, "com:PriorityCountryCode"), _day(findtext(el, "com:PriorityApplicationFilingDate"))
        if country and day:  # a date that is not one is the schema's to report; it is not read
            number = findtext(el, "com:ApplicationNumber/com:ApplicationNumberText")
            out.append(DesignPriority(country, day, number))
    return tuple(out)


def design_details(transaction: etree._Element) -> dict[str, DesignDetails]:
    """Design identifier → its details (the first design of an identifier counts)."""
    details: dict[str, DesignDetails] = {}
    for el in _all(transaction, "dgn:HagueDesignBag/dgn:HagueDesign"):
        identifier = findtext(el, "dgn:DesignIdentifier")
        if identifier is None or identifier in details:
            continue
        details[identifier] = DesignDetails(
            description=findtext(el, "dgn:DesignDescriptionTextBag/dgn:DesignDescriptionText"),
            locarno_edition=findtext(el, "com:LocarnoClassificationBag/com:LocarnoClassificationEdition"),
            priorities=_design_priorities(el),
        )
    return details


def application_language(transaction: etree._Element) -> str | None:
    return findtext(transaction, "com:ApplicationLanguageCode")


def applicant_reference(transaction: etree._Element) -> str | None:
    return findtext(transaction, "com:ApplicantFileReference")


def decision_language(transaction: etree._Element) -> str | None:
    """The first ``com:languageCode`` attribute in the decision, if any."""
    attribute = clark("com:languageCode")
    for el in transaction.iter():
        if isinstance(el.tag, str) and (code := el.get(attribute)):
            return code
    return None


def decision_details(transaction: etree._Element) -> DecisionDetails:
    grounds = []
    for el in _all(transaction, "dgn:DecisionGroundsBag/dgn:DecisionGrounds"):
        texts = _texts(el.findall(clark("dgn:DecisionGroundsText")))
        if texts:
            grounds.append(Grounds(texts, _texts(el.findall(clark("dgn:DecisionGroundsCategory")))))
    prior = transaction.get(clark("dgn:priorRefusalIndicator"))
    return DecisionDetails(
        grounds=tuple(grounds),
        remedies=_texts(_all(transaction, "dgn:DecisionRemedyTextBag/dgn:DecisionRemedyText")),
        amendment=findtext(transaction, "dgn:Amendment"),
        comment=findtext(transaction, "com:CommentText"),
        prior_refusal=None if prior is None else prior.strip() in ("true", "1"),
    )
