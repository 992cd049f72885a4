"""The package's content as a stored record: read once at import (details included),
stored as versioned JSON, read back equal; a record stored before the version gets its
details from its XML by the same reading code."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hws.st96 import safexml
from hws.st96.builder import build_package
from hws.st96.examples import example_package, example_spec
from hws.st96.package import RECORD_VERSION, PackageContent, validate_package, with_details
from hws.st96.transactions import TransactionKind

DETAIL_KEYS = (
    "record_version",
    "holders",
    "representatives",
    "designations",
    "language",
    "applicant_reference",
    "decision_details",
)


def accepted(package: bytes, office: str = "KR") -> PackageContent:
    report = validate_package(package, office=office)
    assert report.ok and report.content is not None, report.problems
    return report.content


@pytest.mark.parametrize("kind", list(TransactionKind))
def test_every_kind_round_trips_through_its_stored_form(kind: TransactionKind) -> None:
    content = accepted(example_package(kind, office="KR"))
    stored = content.to_json()
    assert stored["record_version"] == RECORD_VERSION and "files" not in stored
    assert replace(PackageContent.from_json(stored), files=content.files) == content


def test_an_application_record_holds_what_the_bulletin_prints() -> None:
    content = accepted(example_package("application", office="KR"))
    (holder,) = content.holders
    assert (holder.name, holder.city, holder.postal_code, holder.address_lines) == (
        "ACME Corporation",
        "Seoul",
        "04524",
        ("1 Main Street",),
    )
    assert [(d.office, d.act) for d in content.designations] == [("EM", None), ("US", "Act1999"), ("JP", None)]
    assert content.language == "en" and content.designs[0].description == "A chair with three legs"
    assert content.designs[0].priorities[0].filing_date == date(2024, 1, 10)
    assert content.designs[0].locarno_edition == "14"


def test_a_decision_record_holds_its_grounds_and_remedies() -> None:
    details = accepted(example_package("refusal", office="KR")).decision_details
    assert details is not None
    assert details.grounds[0].categories == ("Lack of novelty",) and details.remedies == ("Appeal within 3 months",)
    grant = accepted(example_package("grant", office="KR")).decision_details
    assert grant is not None and grant.prior_refusal is False


@pytest.mark.parametrize("kind", ["application", "refusal"])
def test_a_record_stored_before_the_version_gets_its_details_from_its_xml(kind: str) -> None:
    content = accepted(example_package(kind, office="KR"))
    legacy = {k: v for k, v in content.to_json().items() if k not in DETAIL_KEYS}
    legacy["designs"] = [
        {k: v for k, v in d.items() if k not in ("description", "locarno_edition", "priorities")} for d in legacy["designs"]
    ]
    old = PackageContent.from_json(legacy)
    assert not old.details_read and old.holders == () and old.decision_details is None
    root = safexml.parse(content.files[content.xml_entry]).getroot()
    assert replace(with_details(old, root), files=content.files) == content


def test_a_record_from_a_newer_service_is_refused() -> None:
    stored = accepted(example_package("application", office="KR")).to_json()
    with pytest.raises(ValueError, match="newer"):
        PackageContent.from_json({**stored, "record_version": RECORD_VERSION + 1})


@settings(max_examples=25, deadline=None)
@given(
    unit=st.sampled_from(["days", "weeks", "months", "years"]),
    amount=st.integers(min_value=1, max_value=40),
    immediate=st.booleans(),
)
def test_a_deferment_is_stored_and_read_back_the_same(unit: str, amount: int, immediate: bool) -> None:
    spec = example_spec(
        "application", office="KR", deferment=None if immediate else {unit: amount}, immediate_publication=immediate
    )
    content = accepted(build_package(spec, {}, fill_missing=True))
    back = PackageContent.from_json(content.to_json())
    assert back.deferment == content.deferment and back.immediate_publication == content.immediate_publication
    assert back.deferment_until(date(2030, 1, 1)) == content.deferment_until(date(2030, 1, 1))
