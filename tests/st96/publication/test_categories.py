"""Which bulletin bag each Office → IB decision kind goes in: the categories follow the
official ``HagueBulletinTransactionBagType`` (its order, its bags, their elements, the
header values), and kinds without a bag have no category."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from hws.st96.publication.categories import DECISION_CATEGORIES, DecisionCategory, bulletin_category
from hws.st96.transactions import TransactionKind

XS = "{http://www.w3.org/2001/XMLSchema}"


@pytest.fixture(scope="module")
def ib_schema(st96_dir: Path) -> etree._Element:
    """WIPO's IB → Office schema, read in place (never copied into the repository)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    return etree.parse(str(st96_dir / "V6_0" / "HagueIBToOfficeTransaction_V6_0.xsd"), parser).getroot()


def refs_of(schema: etree._Element, type_name: str) -> list[str]:
    complex_type = schema.find(f"{XS}complexType[@name='{type_name}']")
    assert complex_type is not None, type_name
    return [ref.split(":", 1)[1] for ref in complex_type.xpath(".//xs:element/@ref", namespaces={"xs": XS[1:-1]})]


def test_the_categories_follow_the_official_bag_order(ib_schema: etree._Element) -> None:
    bags = refs_of(ib_schema, "HagueBulletinTransactionBagType")
    ours = [c.bag for c in DECISION_CATEGORIES]
    assert set(ours) <= set(bags)
    assert ours == sorted(ours, key=bags.index)  # the writer emits the bags in this order


def test_each_bag_holds_the_categorys_element(ib_schema: etree._Element) -> None:
    for category in DECISION_CATEGORIES:
        assert refs_of(ib_schema, f"{category.bag}Type") == [category.element], category.bag


def test_each_header_is_an_official_transaction_category(ib_schema: etree._Element) -> None:
    simple = ib_schema.find(f"{XS}simpleType[@name='HagueBulletinTransactionCategoryType']")
    assert simple is not None
    allowed = {e.get("value") for e in simple.iter(f"{XS}enumeration")}
    assert {c.header for c in DECISION_CATEGORIES} <= allowed
    assert len({c.header for c in DECISION_CATEGORIES}) == len(DECISION_CATEGORIES)


def test_each_category_is_an_office_decision_kind() -> None:
    kinds = {k.value for k in TransactionKind if k.is_decision}
    assert {c.request for c in DECISION_CATEGORIES} <= kinds
    assert len({c.request for c in DECISION_CATEGORIES}) == len(DECISION_CATEGORIES)


@pytest.mark.parametrize("category", DECISION_CATEGORIES, ids=lambda c: c.request)
def test_a_category_is_found_by_the_request_or_the_bulletin_element(category: DecisionCategory) -> None:
    assert bulletin_category(category.request) is category
    assert bulletin_category(category.element) is category


@pytest.mark.parametrize(
    "kind",
    [
        TransactionKind.APPLICATION,
        TransactionKind.DIVISION,
        TransactionKind.SECOND_PART_FEE_PAYABLE,
        TransactionKind.SECOND_PART_FEE_PAID,
        TransactionKind.GENERIC_OFFICE_COMMUNICATION,
    ],
)
def test_kinds_the_bulletin_has_no_bag_for(kind: TransactionKind) -> None:
    assert bulletin_category(kind.value) is None


@pytest.mark.parametrize("name", ["", "refusal", "hagueRefusalRequest", "HagueRefusalBag", "Refusal", " HagueRefusal"])
def test_only_exact_element_names_are_known(name: str) -> None:
    assert bulletin_category(name) is None


def test_only_a_cancellation_for_non_payment_goes_without_a_decision_date() -> None:
    assert [c.request for c in DECISION_CATEGORIES if not c.needs_decision_date] == ["HagueCancellationNonPaymentRequest"]
    assert bulletin_category("HagueRefusal").header == "Refusal"  # type: ignore[union-attr]
