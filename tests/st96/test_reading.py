"""Reading a transaction's details: parties (organisation, person, entity or legal name;
structured or free address), designations with their Act, each design's description,
Locarno edition and priorities, the languages and references, and a decision's grounds,
remedies, amendment, comment and prior-refusal indicator. Fragments are built here by code;
one test reads the example packages end to end."""

from __future__ import annotations

import io
import zipfile
from datetime import date
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from hws.st96 import reading
from hws.st96.examples import example_package
from hws.st96.namespaces import clark, dgn
from hws.st96.reading import (
    DecisionDetails,
    Designation,
    DesignDetails,
    DesignPriority,
    Grounds,
    Party,
)

# ----------------------------------------------------------------------------- building fragments

Child = etree._Element | str


def el(tag: str, *children: Child, **attrs: str) -> etree._Element:
    """``el("com:Name", child, "text")``: children are elements or the element's text;
    attributes are given as ``com__languageCode="en"`` (prefix__local)."""
    element = etree.Element(clark(tag))
    for name, value in attrs.items():
        prefix, _, local = name.partition("__")
        element.set(clark(f"{prefix}:{local}") if local else name, value)
    for child in children:
        if isinstance(child, str):
            element.text = (element.text or "") + child
        else:
            element.append(child)
    return element


def applicant(*children: Child) -> etree._Element:
    return el("dgn:Applicant", *children)


def contact(*children: Child) -> etree._Element:
    return el("com:Contact", *children)


def org_name(text: str) -> etree._Element:
    return el("com:Name", el("com:OrganizationName", el("com:OrganizationStandardName", text)))


def structured(*lines: str, city: str | None = None, country: str | None = None, postal: str | None = None) -> etree._Element:
    parts: list[Child] = [el("com:AddressLineText", line) for line in lines]
    parts += [el("com:CityName", city)] if city is not None else []
    parts += [el("com:CountryCode", country)] if country is not None else []
    parts += [el("com:PostalCode", postal)] if postal is not None else []
    return el("com:PostalAddressBag", el("com:PostalAddress", el("com:PostalStructuredAddress", *parts)))


def application(*children: Child) -> etree._Element:
    return el("dgn:HagueApplication", *children)


def designated(code: str, act: str | None = None) -> etree._Element:
    parts: list[Child] = [el("com:DesignatedCountryCode", code)]
    if act is not None:
        parts.append(el("dgn:HagueAgreementActCategory", act))
    return el("dgn:DesignatedCountry", *parts)


def design(identifier: str | None, *children: Child) -> etree._Element:
    head: list[Child] = [el("dgn:DesignIdentifier", identifier)] if identifier is not None else []
    return el("dgn:HagueDesign", *head, *children)


def priority(country: str | None, day: str | None, number: str | None = None) -> etree._Element:
    parts: list[Child] = []
    if country is not None:
        parts.append(el("com:PriorityCountryCode", country))
    if number is not None:
        parts.append(el("com:ApplicationNumber", el("com:ApplicationNumberText", number)))
    if day is not None:
        parts.append(el("com:PriorityApplicationFilingDate", day))
    return el("dgn:Priority", *parts)


def with_designs(*designs: etree._Element) -> dict[str, DesignDetails]:
    return reading.design_details(application(el("dgn:HagueDesignBag", *designs)))


# XML 1.0 text: no control characters (but tab, newline), no surrogates, no non-characters
xml_text = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Cn"), whitelist_characters="\t\n "), max_size=40)


# ----------------------------------------------------------------------------- paths


def test_find_and_findtext_walk_prefixed_paths() -> None:
    root = el("dgn:HagueApplication", el("com:Contact", el("com:Name", "  Ann  ")), el("com:Empty", "   "))
    assert reading.find(root, "com:Contact/com:Name") is not None
    assert reading.findtext(root, "com:Contact/com:Name") == "Ann"  # stripped
    assert reading.findtext(root, "com:Empty") is None  # blank is absent
    assert reading.findtext(root, "com:Contact") is None  # no text of its own
    assert reading.find(root, "com:Contact/com:Missing/com:Name") is None
    assert reading.find(root, "dgn:Contact") is None  # the namespace counts
    assert reading.find(None, "com:Contact") is None and reading.findtext(None, "com:Contact") is None


@given(xml_text)
def test_findtext_is_the_stripped_text_or_none(text: str) -> None:
    root = el("dgn:X", el("com:Y", text))
    assert reading.findtext(root, "com:Y") == (text.strip() or None)


# ----------------------------------------------------------------------------- parties


def test_an_organisation_with_a_structured_address() -> None:
    found = reading.party(
        applicant(
            el("com:NationalityCode", "KR"),
            el("com:LegalEntityName", "ACME Corporation Ltd"),
            el(
                "dgn:Entitlement",
                el("com:EntitlementNationalityCode", "KR"),
                el("com:EntitlementDomiciled", el("com:EntitlementDomiciledCode", "JP")),
            ),
            el("dgn:ApplicantContractingParty", "EM"),
            contact(org_name(" ACME "), structured("1 Main St", " ", "Floor 2", city="Seoul", country="KR", postal="04524")),
        )
    )
    assert found == Party(
        name="ACME",
        person=False,
        legal_entity_name="ACME Corporation Ltd",
        nationality="KR",
        entitlement_nationality="KR",
        entitlement_domicile="JP",
        contracting_party="EM",
        address_lines=("1 Main St", "Floor 2"),  # a blank line is left out
        city="Seoul",
        postal_code="04524",
        country="KR",
    )


def test_a_person_by_full_name_or_by_the_parts_of_the_name() -> None:
    full = reading.party(applicant(contact(el("com:Name", el("com:PersonName", el("com:PersonFullName", "Kim Min-jun"))))))
    assert full is not None and full.name == "Kim Min-jun" and full.person
    parts = el(
        "com:PersonName",
        el("com:FirstName", " Min-jun "),
        etree.Comment(" not a name "),
        el("com:LastName", "Kim"),
        el("com:NamePrefix", "   "),
    )
    joined = reading.party(applicant(contact(el("com:Name", parts))))
    assert joined is not None and joined.name == "Min-jun Kim" and joined.person


def test_an_empty_person_name_falls_back_to_the_entity_then_the_legal_name() -> None:
    empty_person = el("com:Name", el("com:PersonName", el("com:FirstName", " ")), el("com:EntityName", "Entity"))
    found = reading.party(applicant(contact(empty_person)))
    assert found is not None and found.name == "Entity"
    legal = reading.party(applicant(el("com:LegalEntityName", "Legal Ltd"), contact(el("com:Name"))))
    assert legal is not None and legal.name == "Legal Ltd" and not legal.person
    no_contact = reading.party(applicant(el("com:LegalEntityName", "Only Legal")))
    assert no_contact is not None and no_contact.name == "Only Legal" and no_contact.address_lines == ()


def test_the_organisation_name_comes_before_a_person_name() -> None:
    name = el(
        "com:Name",
        el("com:OrganizationName", el("com:OrganizationStandardName", "Org")),
        el("com:PersonName", el("com:PersonFullName", "Person")),
    )
    found = reading.party(applicant(contact(name)))
    assert found is not None and found.name == "Org" and not found.person


def test_a_party_without_any_name_is_not_read() -> None:
    assert reading.party(applicant()) is None
    assert reading.party(applicant(contact(el("com:Name", el("com:OrganizationName")), structured("1 St")))) is None
    assert reading.party(applicant(el("com:LegalEntityName", "  "), contact(org_name(" ")))) is None


def test_a_free_text_address_has_lines_and_no_city_or_country() -> None:
    bag = el(
        "com:PostalAddressBag",
        el(
            "com:PostalAddress",
            el("com:PostalAddressText", "1 Rue du Rhône"),
            el("com:PostalAddressText", " "),
            el("com:PostalAddressText", "1204 Genève\nSwitzerland"),
        ),
        el("com:PostalAddress", el("com:PostalAddressText", "another form of the address")),  # the first counts
    )
    found = reading.party(applicant(contact(org_name("WIPO"), bag)))
    assert found is not None
    assert found.address_lines == ("1 Rue du Rhône", "1204 Genève\nSwitzerland")
    assert (found.city, found.postal_code, found.country) == (None, None, None)


def test_the_first_postal_address_decides_structured_or_free() -> None:
    bag = el(
        "com:PostalAddressBag",
        el("com:PostalAddress", el("com:PostalAddressText", "free")),
        el("com:PostalAddress", el("com:PostalStructuredAddress", el("com:AddressLineText", "line"), el("com:CityName", "Bern"))),
    )
    found = reading.party(applicant(contact(org_name("X"), bag)))
    assert found is not None and found.address_lines == ("free",) and found.city is None


def test_holders_and_representatives_keep_document_order_and_skip_nameless_parties() -> None:
    transaction = application(
        el(
            "dgn:ApplicantBag",
            applicant(contact(org_name("First"))),
            applicant(contact(el("com:Name"))),  # no name: left out
            applicant(contact(org_name("Second"))),
        ),
        el("com:Representative", contact(org_name("Agent A"))),
        el("com:Representative", el("com:LegalEntityName", "Agent B")),
    )
    assert [p.name for p in reading.holders(transaction)] == ["First", "Second"]
    assert [p.name for p in reading.representatives(transaction)] == ["Agent A", "Agent B"]
    assert reading.holders(application()) == () and reading.representatives(application()) == ()


def test_party_address_lines_are_always_a_tuple() -> None:
    assert Party("x", address_lines="one line").address_lines == ("one line",)  # type: ignore[arg-type]
    assert Party("x", address_lines=["a", "b"]).address_lines == ("a", "b")  # type: ignore[arg-type]
    assert Party("x", address_lines=None).address_lines == ()  # type: ignore[arg-type]


@given(xml_text, xml_text)
def test_any_organisation_name_is_read_stripped_or_the_party_is_left_out(name: str, legal: str) -> None:
    found = reading.party(applicant(el("com:LegalEntityName", legal), contact(org_name(name))))
    expected = name.strip() or legal.strip() or None
    assert (found.name if found else None) == expected
    if found is not None:
        assert found.legal_entity_name == (legal.strip() or None) and not found.person


# ----------------------------------------------------------------------------- designations


def test_designations_once_each_in_document_order_with_the_first_act() -> None:
    transaction = application(
        el(
            "dgn:DesignatedCountryBag",
            designated("EM"),
            designated("US", "Act1999"),
            designated(" ", "Act1960"),  # no code: left out
            designated("JP", "Act1999"),
            designated("US", "Act1960"),  # a repeat: the first stays
        )
    )
    assert reading.designations(transaction) == (
        Designation("EM", None),
        Designation("US", "Act1999"),
        Designation("JP", "Act1999"),
    )
    assert reading.designations(application()) == ()
    assert reading.designations(application(el("dgn:DesignatedCountryBag"))) == ()


codes = st.sampled_from(["EM", "US", "JP", "KR", "CH", "OA"])
acts = st.sampled_from([None, "Act1999", "Act1960"])


@given(st.lists(st.tuples(codes, acts), max_size=12))
def test_designations_are_the_first_occurrence_of_each_code(pairs: list[tuple[str, str | None]]) -> None:
    transaction = application(el("dgn:DesignatedCountryBag", *(designated(code, act) for code, act in pairs)))
    expected: dict[str, str | None] = {}
    for code, act in pairs:
        expected.setdefault(code, act)
    assert reading.designations(transaction) == tuple(Designation(c, a) for c, a in expected.items())


# ----------------------------------------------------------------------------- designs


def test_design_details_by_identifier() -> None:
    details = with_designs(
        design(
            "1",
            el(
                "dgn:DesignDescriptionTextBag",
                el("dgn:DesignDescriptionText", " A chair "),
                el("dgn:DesignDescriptionText", "2nd"),
            ),
            el("com:LocarnoClassificationBag", el("com:LocarnoClassificationEdition", "15")),
            el(
                "dgn:PriorityBag",
                priority("KR", "2026-12-31", "30-2026-1"),
                priority("JP", "2027-01-01+09:00"),  # a time zone after the day
                priority(None, "2026-01-01"),  # no country: not read
                priority("US", None),  # no date: not read
                priority("CN", "31/12/2026"),  # not a date: not read
                priority("EM", "2026-02-30"),  # no such day: not read
            ),
        ),
        design("2"),
        design(None, el("dgn:DesignDescriptionTextBag", el("dgn:DesignDescriptionText", "no id"))),
        design("1", el("dgn:DesignDescriptionTextBag", el("dgn:DesignDescriptionText", "a repeat"))),
    )
    assert details == {
        "1": DesignDetails(
            description="A chair",
            locarno_edition="15",
            priorities=(
                DesignPriority("KR", date(2026, 12, 31), "30-2026-1"),
                DesignPriority("JP", date(2027, 1, 1), None),
            ),
        ),
        "2": DesignDetails(),
    }
    assert with_designs() == {} and reading.design_details(application()) == {}


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)), st.sampled_from(["", "Z", "+01:00", "-12:00"]))
def test_any_xs_date_of_a_priority_is_read(day: date, zone: str) -> None:
    details = with_designs(design("1", el("dgn:PriorityBag", priority("KR", day.isoformat() + zone))))
    assert details["1"].priorities == (DesignPriority("KR", day),)


@given(xml_text)
def test_any_priority_date_text_is_read_or_left_out_never_raises(text: str) -> None:
    details = with_designs(design("1", el("dgn:PriorityBag", priority("KR", text))))
    found = details["1"].priorities
    assert len(found) <= 1
    if found:
        assert found[0].filing_date == date.fromisoformat(text.strip()[:10])


# ----------------------------------------------------------------------------- languages, references


def test_application_language_and_applicant_reference() -> None:
    transaction = application(el("com:ApplicationLanguageCode", "fr"), el("com:ApplicantFileReference", " REF/1 "))
    assert reading.application_language(transaction) == "fr"
    assert reading.applicant_reference(transaction) == "REF/1"
    assert reading.application_language(application()) is None and reading.applicant_reference(application()) is None


def test_decision_language_is_the_first_language_code_attribute() -> None:
    decision = el(
        "dgn:HagueRefusalRequest",
        el("com:IPOfficeCode", "KR"),
        el("dgn:DecisionGroundsBag", el("dgn:DecisionGrounds", el("dgn:DecisionGroundsText", "x", com__languageCode="es"))),
        el("com:CommentText", "y", com__languageCode="fr"),
    )
    assert reading.decision_language(decision) == "es"
    decision.set(clark("com:languageCode"), "en")  # on the transaction itself: first in document order
    assert reading.decision_language(decision) == "en"
    unqualified = el("dgn:HagueRefusalRequest", el("com:CommentText", "y", languageCode="de"))
    assert reading.decision_language(unqualified) is None  # the attribute is com:languageCode
    blank = el("dgn:HagueRefusalRequest", el("com:CommentText", "y", com__languageCode=""), el("com:X", com__languageCode="it"))
    assert reading.decision_language(blank) == "it"


# ----------------------------------------------------------------------------- decisions


def test_decision_details() -> None:
    decision = el(
        "dgn:HagueRefusalRequest",
        el(
            "dgn:DecisionGroundsBag",
            el(
                "dgn:DecisionGrounds",
                el("dgn:DecisionGroundsText", " Lack of novelty "),
                el("dgn:DecisionGroundsText", "Art. 33"),
                el("dgn:DecisionGroundsCategory", "Lack of novelty"),
            ),
            el("dgn:DecisionGrounds", el("dgn:DecisionGroundsText", " "), el("dgn:DecisionGroundsCategory", "Other")),
            el("dgn:DecisionGrounds", el("dgn:DecisionGroundsText", "Second ground")),
        ),
        el("dgn:DecisionRemedyTextBag", el("dgn:DecisionRemedyText", "Appeal"), el("dgn:DecisionRemedyText", "")),
        el("dgn:Amendment", " Claim 2 amended "),
        el("com:CommentText", "See annex"),
        dgn__priorRefusalIndicator=" true ",
    )
    assert reading.decision_details(decision) == DecisionDetails(
        grounds=(
            Grounds(("Lack of novelty", "Art. 33"), ("Lack of novelty",)),
            Grounds(("Second ground",)),  # grounds without text are left out
        ),
        remedies=("Appeal",),
        amendment="Claim 2 amended",
        comment="See annex",
        prior_refusal=True,
    )
    assert reading.decision_details(el("dgn:HagueGrantProtectionRequest")) == DecisionDetails()


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("1", True), (" 1 ", True), ("false", False), ("0", False), ("TRUE", False), ("", False), (None, None)],
)
def test_the_prior_refusal_indicator(value: str | None, expected: bool | None) -> None:
    attrs: dict[str, Any] = {} if value is None else {"dgn__priorRefusalIndicator": value}
    assert reading.decision_details(el("dgn:HagueGrantProtectionRequest", **attrs)).prior_refusal is expected


def test_grounds_texts_and_categories_are_tuples() -> None:
    assert Grounds("one", "cat") == Grounds(("one",), ("cat",))  # type: ignore[arg-type]
    assert Grounds(["a", "b"], None) == Grounds(("a", "b"), ())  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- the example packages


def transaction_of(kind: str) -> etree._Element:
    archive = zipfile.ZipFile(io.BytesIO(example_package(kind)))
    xml = next(name for name in archive.namelist() if name.endswith(".xml"))
    root = etree.fromstring(archive.read(xml))
    return next(el for el in root.find(dgn("HagueOfficeToIBBag")) if isinstance(el.tag, str))


def test_the_example_application_reads_as_its_description_says() -> None:
    transaction = transaction_of("application")
    (holder,) = reading.holders(transaction)
    assert holder.name == "ACME Corporation" and not holder.person
    assert (holder.address_lines, holder.city, holder.postal_code, holder.country) == (("1 Main Street",), "Seoul", "04524", "KR")
    (agent,) = reading.representatives(transaction)
    assert agent.name == "Kim Min-jun" and agent.person and agent.address_lines == ("2 Law Street",)
    assert reading.designations(transaction) == (Designation("EM"), Designation("US", "Act1999"), Designation("JP"))
    details = reading.design_details(transaction)
    assert details["1"].description == "A chair with three legs"
    assert details["1"].priorities == (DesignPriority("KR", date(2024, 1, 10), "30-2024-0000123"),)
    assert details["2"].priorities == () and details["2"].description is None
    assert reading.application_language(transaction) == "en"


def test_the_example_refusal_and_grant_read_as_their_descriptions_say() -> None:
    refusal = reading.decision_details(transaction_of("refusal"))
    assert refusal.grounds == (Grounds(("Lack of novelty over KR 30-2020-1",), ("Lack of novelty",)),)
    assert refusal.remedies == ("Appeal within 3 months",) and refusal.prior_refusal is None
    assert reading.decision_language(transaction_of("refusal")) == "en"
    assert reading.decision_details(transaction_of("grant")).prior_refusal is False
