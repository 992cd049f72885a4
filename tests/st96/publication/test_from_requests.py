"""From stored service requests to the writers' inputs: a Registration from an
application's record and stored files (filing date, designs and views, designations with
Acts, holders, deferment expiry), a Decision from a decision's record (target, document,
details), and a stored record read back (an old record completed from its XML)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from hws.st96.content import Deferment, Document, PackageContent, Priority
from hws.st96.content import Design as ContentDesign
from hws.st96.content import View as ContentView
from hws.st96.examples import example_package
from hws.st96.package import validate_package
from hws.st96.publication.from_requests import (
    decision_from_content,
    decision_from_service_request,
    registration_from_content,
    registration_from_service_request,
    stored_content,
)
from hws.st96.publication.model import (
    Decision,
    DecisionDocument,
    Design,
    PublicationError,
    Registration,
    View,
)
from hws.st96.publication.model import Priority as DesignPriorityOut
from hws.st96.reading import DecisionDetails, Designation, DesignPriority, Grounds, Party
from hws.st96.transactions import TransactionKind
from hws.store.service_requests import StoredFile

FACTS: dict[str, Any] = {
    "irn": "DM/200001",
    "srn": "970000001",
    "registration_date": date(2027, 1, 1),
    "expected_publication_date": date(2027, 12, 31),
}


def application(**changes: Any) -> PackageContent:
    base = PackageContent(
        transaction=TransactionKind.APPLICATION,
        st96_version="V6_0",
        office="KR",
        office_reference="KR-1",
        xml_entry="a.xml",
        request_date=date(2026, 12, 30),
        filing_date=date(2026, 12, 28),
        designs=(
            ContentDesign(
                "1",
                views=(ContentView("1.1", "img/1.jpg", "Front"), ContentView(None, "img/2.png")),
                product="Chair",
                locarno_classes=("06-01",),
                description="Three legs",
                locarno_edition="15",
                priorities=(DesignPriority("JP", date(2026, 6, 30), "JP-9"),),
            ),
            ContentDesign(None, views=(ContentView(None, "img/3.jpg"),)),
        ),
        designated_offices=("US", "EM"),
        designations=(Designation("EM", "Act1999"), Designation("US", "Act1960")),
        holders=(Party("ACME Corporation", country="KR"),),
        representatives=(Party("Kim", person=True),),
        applicants=("ACME Corporation",),
        language="fr",
        applicant_reference="APP-1",
    )
    return replace(base, **changes)


def files(*paths: tuple[str, str]) -> list[dict[str, Any]]:
    return [{"path": p, "sha256": f"sha-{p}", "media_type": m} for p, m in paths]


FILES = files(("img/1.jpg", "image/jpeg"), ("img/2.png", "image/png"), ("img/3.jpg", "image/jpeg"), ("a.xml", "application/xml"))


def refusal(**changes: Any) -> PackageContent:
    base = PackageContent(
        transaction=TransactionKind.REFUSAL,
        st96_version="V6_0",
        office="US",
        office_reference="US-DEC-1",
        xml_entry="r.xml",
        irn="DM/200001",
        decision_date=date(2026, 12, 31),
        decision_effective_date=date(2027, 1, 4),
        affected_designs=("1",),
        documents=(Document("refusal.pdf", "REFUSAL_DECISION", "application/pdf"),),
        language="es",
        decision_details=DecisionDetails(
            grounds=(Grounds(("Lack of novelty",), ("Lack of novelty",)),),
            remedies=("Appeal",),
            amendment="none",
            comment="see annex",
            prior_refusal=None,
        ),
    )
    return replace(base, **changes)


# ----------------------------------------------------------------------------- registrations


def test_a_registration_from_an_applications_record() -> None:
    reg = registration_from_content(application(), FILES, **FACTS)
    assert reg == Registration(
        irn="DM/200001",
        srn="970000001",
        registration_date=date(2027, 1, 1),
        filing_date=date(2026, 12, 28),
        expected_publication_date=date(2027, 12, 31),
        holders=(Party("ACME Corporation", country="KR"),),
        designations=(Designation("US", "Act1960"), Designation("EM", "Act1999")),  # the designated offices' order
        designs=(
            Design(
                identifier="1",
                product="Chair",
                locarno_classes=("06-01",),
                views=(
                    View("1.1", "Front", "img/1.jpg", "sha-img/1.jpg", "image/jpeg"),
                    View("1.2", None, "img/2.png", "sha-img/2.png", "image/png"),  # numbered in its design
                ),
                description="Three legs",
                priorities=(DesignPriorityOut("JP", date(2026, 6, 30), "JP-9"),),
                locarno_edition="15",
            ),
            Design(
                identifier="2",  # numbered by position
                product="-",
                locarno_classes=(),
                views=(View("2.1", None, "img/3.jpg", "sha-img/3.jpg", "image/jpeg"),),
            ),
        ),
        language="fr",
        deferment_expiry_date=None,
        office_reference="KR-1",
        applicant_reference="APP-1",
        representatives=(Party("Kim", person=True),),
    )
    assert reg.designs[1].locarno_edition == "14"  # the default edition


def test_stored_files_may_be_records_or_mappings() -> None:
    stored = [StoredFile(f["path"], f["sha256"], 1, f["media_type"], None) for f in FILES]
    assert registration_from_content(application(), stored, **FACTS) == registration_from_content(application(), FILES, **FACTS)


def test_a_stored_file_without_a_media_type_gives_an_empty_one() -> None:
    bare = [{"path": f["path"], "sha256": f["sha256"]} for f in FILES]
    reg = registration_from_content(application(), bare, **FACTS)
    assert {v.media_type for d in reg.designs for v in d.views} == {""}


def test_the_filing_date_falls_back_to_the_request_date() -> None:
    reg = registration_from_content(application(filing_date=None), FILES, **FACTS)
    assert reg.filing_date == date(2026, 12, 30)
    with pytest.raises(PublicationError, match="DM/200001: no filing date"):
        registration_from_content(application(filing_date=None, request_date=None), FILES, **FACTS)


def test_a_view_file_that_was_not_stored_is_an_error() -> None:
    with pytest.raises(PublicationError, match=r"design 2: the view file 'img/3.jpg' is not among the stored files"):
        registration_from_content(application(), FILES[:2], **FACTS)


def test_designations_without_designated_offices_come_from_the_acts() -> None:
    reg = registration_from_content(application(designated_offices=()), FILES, **FACTS)
    assert reg.designations == (Designation("EM", "Act1999"), Designation("US", "Act1960"))
    reg = registration_from_content(
        application(designated_offices=("JP", "US", "JP"), designations=(Designation("US", "Act1999"),)), FILES, **FACTS
    )
    assert reg.designations == (Designation("JP", None), Designation("US", "Act1999"))  # once each; no Act known for JP


def test_a_record_designating_nothing_is_not_a_registration() -> None:
    with pytest.raises(PublicationError, match="at least one designation"):
        registration_from_content(application(designated_offices=(), designations=()), FILES, **FACTS)


def test_holders_fall_back_to_the_applicants_names() -> None:
    reg = registration_from_content(application(holders=(), applicants=("A Ltd", "B GmbH")), FILES, **FACTS)
    assert reg.holders == (Party("A Ltd"), Party("B GmbH"))
    with pytest.raises(PublicationError, match="at least one holder"):
        registration_from_content(application(holders=(), applicants=()), FILES, **FACTS)


def test_a_record_without_designs_is_not_a_registration() -> None:
    with pytest.raises(PublicationError, match="at least one design"):
        registration_from_content(application(designs=()), FILES, **FACTS)


def test_the_language_defaults_to_english() -> None:
    assert registration_from_content(application(language=None), FILES, **FACTS).language == "en"


def test_the_irn_must_be_one() -> None:
    with pytest.raises(PublicationError, match="not an international registration number"):
        registration_from_content(application(), FILES, **{**FACTS, "irn": "DM/1"})


@pytest.mark.parametrize(
    ("deferment", "priorities", "expected"),
    [
        (None, (), None),
        (Deferment(False, 12, "In month"), (), None),  # not requested
        (Deferment(True, 15, "In day"), (), date(2027, 1, 12)),  # 2026-12-28 + 15 days
        (Deferment(True, 18, "In month"), (), date(2028, 6, 28)),
        (Deferment(True, 2, "In year"), (), date(2028, 12, 28)),
        (Deferment(True, None, None), (), date(2029, 6, 28)),  # no period: the 30-month maximum
        (Deferment(True, 40, "In month"), (), date(2029, 6, 28)),  # never beyond it
        (Deferment(True, 18, "In month"), (Priority("JP", "1", date(2026, 8, 31)),), date(2028, 2, 29)),  # leap day
        (Deferment(True, 18, "In month"), (Priority("JP", "1", date(2027, 2, 1)),), date(2028, 6, 28)),  # later: no base
    ],
)
def test_the_deferment_expiry_is_the_records_rule_from_the_filing_date(
    deferment: Deferment | None, priorities: tuple[Priority, ...], expected: date | None
) -> None:
    content = application(deferment=deferment, priorities=priorities)
    reg = registration_from_content(content, FILES, **FACTS)
    assert reg.deferment_expiry_date == expected
    assert reg.deferred is (expected is not None)
    assert reg.deferment_expiry_date == content.deferment_until(date(1900, 1, 1))  # one rule


def test_the_deferment_runs_from_the_request_date_when_no_filing_date() -> None:
    content = application(filing_date=None, deferment=Deferment(True, 15, "In day"))
    assert registration_from_content(content, FILES, **FACTS).deferment_expiry_date == date(2027, 1, 14)


# ----------------------------------------------------------------------------- decisions

PDFS = [
    {"path": "z-other.pdf", "sha256": "sha-z", "media_type": "application/pdf", "kind": "MISCELLANEOUS"},
    {"path": "refusal.pdf", "sha256": "sha-r", "media_type": "application/pdf", "kind": "STORED_KIND"},
    {"path": "a.xml", "sha256": "sha-x", "media_type": "application/xml"},
]


def test_a_decision_from_a_decisions_record() -> None:
    dec = decision_from_content(refusal(), PDFS, srn="970000010", recorded_date=date(2027, 1, 1))
    assert dec == Decision(
        irn="DM/200001",
        srn="970000010",
        kind="HagueRefusalRequest",
        office="US",
        recorded_date=date(2027, 1, 1),
        decision_date=date(2026, 12, 31),
        effective_date=date(2027, 1, 4),
        affected_designs=("1",),
        document=DecisionDocument("refusal.pdf", "sha-r", "application/pdf", "REFUSAL_DECISION"),
        office_reference="US-DEC-1",
        grounds=(Grounds(("Lack of novelty",), ("Lack of novelty",)),),
        remedies=("Appeal",),
        amendment="none",
        comment="see annex",
        prior_refusal=None,
        language="es",
    )
    assert dec.category is not None and dec.category.element == "HagueRefusal"


def test_the_irn_given_wins_over_the_records() -> None:
    dec = decision_from_content(refusal(), PDFS, srn="9", recorded_date=date(2027, 1, 1), irn="DM/000007")
    assert dec.irn == "DM/000007"


def test_a_decision_naming_no_registration_is_an_error() -> None:
    with pytest.raises(PublicationError, match="record 970000010: the decision names no international registration"):
        decision_from_content(refusal(irn=None), PDFS, srn="970000010", recorded_date=date(2027, 1, 1))
    with pytest.raises(PublicationError, match="not an international registration number"):
        decision_from_content(refusal(irn="DM-200001"), PDFS, srn="970000010", recorded_date=date(2027, 1, 1))


def test_the_document_is_the_first_listed_stored_pdf() -> None:
    listed = refusal(
        documents=(Document("z-other.pdf", None, "application/pdf"), Document("refusal.pdf", "REFUSAL_DECISION", None))
    )
    dec = decision_from_content(listed, PDFS, srn="1", recorded_date=date(2027, 1, 1))
    assert dec.document == DecisionDocument("refusal.pdf", "sha-r", "application/pdf", "REFUSAL_DECISION")  # by path
    only_other = refusal(documents=(Document("z-other.pdf", None, None),))
    dec = decision_from_content(only_other, PDFS, srn="1", recorded_date=date(2027, 1, 1))
    assert dec.document == DecisionDocument("z-other.pdf", "sha-z", "application/pdf", "MISCELLANEOUS")  # the file's kind


def test_without_listed_documents_any_stored_pdf_is_the_document() -> None:
    dec = decision_from_content(refusal(documents=()), PDFS, srn="1", recorded_date=date(2027, 1, 1))
    assert dec.document == DecisionDocument("refusal.pdf", "sha-r", "application/pdf", "STORED_KIND")


def test_no_document_when_no_listed_file_is_a_stored_pdf() -> None:
    not_stored = refusal(documents=(Document("missing.pdf", "REFUSAL_DECISION", "application/pdf"),))
    assert decision_from_content(not_stored, PDFS, srn="1", recorded_date=date(2027, 1, 1)).document is None
    xml_only = refusal(documents=(Document("a.xml", None, None),))
    assert decision_from_content(xml_only, PDFS, srn="1", recorded_date=date(2027, 1, 1)).document is None
    assert decision_from_content(refusal(documents=()), PDFS[2:], srn="1", recorded_date=date(2027, 1, 1)).document is None


def test_a_decision_without_details_or_language() -> None:
    bare = refusal(decision_details=None, language=None, affected_designs=None)
    dec = decision_from_content(bare, [], srn="1", recorded_date=date(2027, 1, 1))
    assert (dec.grounds, dec.remedies, dec.amendment, dec.comment, dec.prior_refusal) == ((), (), None, None, None)
    assert dec.language == "en" and dec.affected_designs is None and dec.document is None


def test_a_kind_without_a_bulletin_bag_is_still_a_decision() -> None:
    division = refusal(transaction=TransactionKind.DIVISION)
    dec = decision_from_content(division, PDFS, srn="1", recorded_date=date(2027, 1, 1))
    assert dec.kind == "HagueDivision" and dec.category is None


# ----------------------------------------------------------------------------- stored records


def example(kind: str) -> PackageContent:
    content = validate_package(example_package(kind, office="KR"), office="KR").content
    assert content is not None
    return content


def stored_files_of(content: PackageContent) -> list[dict[str, Any]]:
    media = {"jpg": "image/jpeg", "png": "image/png", "pdf": "application/pdf", "xml": "application/xml"}
    kinds = {d.file: d.kind for d in content.documents}
    return [
        {"path": name, "sha256": f"sha-{name}", "media_type": media[name.rsplit(".", 1)[1]], "kind": kinds.get(name)}
        for name in sorted(content.files)
    ]


def test_a_current_record_reads_back_without_its_xml() -> None:
    content = example("application")
    back = stored_content(content.to_json())
    assert back.details_read and back.holders == content.holders and back.designations == content.designations
    reg = registration_from_service_request(content.to_json(), stored_files_of(content), **FACTS)
    assert reg == registration_from_content(content, stored_files_of(content), **FACTS)
    assert [h.name for h in reg.holders] == ["ACME Corporation"]
    assert reg.designations == (Designation("EM"), Designation("US", "Act1999"), Designation("JP"))
    assert reg.deferment_expiry_date == date(2025, 1, 10)  # 12 months from the design's priority of 2024-01-10


def test_an_old_record_is_completed_from_its_xml() -> None:
    content = example("application")
    old = content.to_json()
    del old["record_version"]
    for key in ("holders", "representatives", "designations", "language", "applicant_reference"):
        old.pop(key, None)
    incomplete = stored_content(old)
    assert not incomplete.details_read and incomplete.holders == ()
    completed = stored_content(old, content.files[content.xml_entry])
    assert completed.details_read and completed.holders == content.holders and completed.designations == content.designations
    assert stored_content(old, b"") == incomplete  # no XML: left as stored
    reg = registration_from_service_request(old, stored_files_of(content), content.files[content.xml_entry], **FACTS)
    assert reg.holders == content.holders


def test_a_record_newer_than_the_service_is_refused() -> None:
    data = example("application").to_json()
    data["record_version"] = 99
    with pytest.raises(ValueError, match="newer than this service"):
        stored_content(data)


def test_a_decision_from_a_stored_refusal() -> None:
    content = example("refusal")
    dec = decision_from_service_request(
        content.to_json(), stored_files_of(content), srn="970000010", recorded_date=date(2027, 1, 1)
    )
    assert dec.irn == "DM/200000" and dec.kind == "HagueRefusalRequest" and dec.office == "KR"
    assert dec.document is not None and dec.document.kind == "REFUSAL_DECISION" and dec.document.file_name.endswith(".pdf")
    assert dec.grounds == (Grounds(("Lack of novelty over KR 30-2020-1",), ("Lack of novelty",)),)
    assert dec.affected_designs == ("1", "2")
