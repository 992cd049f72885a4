"""Layout, transaction and reference rules: each check of the checklist, one test."""

from __future__ import annotations

import pytest
from lxml import etree

from hws.st96 import specimens
from hws.st96.builder import build_package
from hws.st96.examples import example_package, example_spec
from hws.st96.package import validate_package
from hws.st96.transactions import TransactionKind as K
from tests.st96.repack import NS, entries, find, remove, repack, with_tree, with_xml, xml_entry


def reject(data: bytes, code: str, **kwargs):
    report = validate_package(data, **kwargs)
    found = [p for p in report.problems if p.code == code]
    assert found, f"expected {code}, got {[str(p) for p in report.problems]}"
    assert not report.ok and report.content is None
    return found[0]


# --------------------------------------------------------------------------- layout


def test_zero_xml_files() -> None:
    pkg = example_package()
    name, _ = xml_entry(pkg)
    reject(repack(pkg, drop=[name]), "package-no-xml")


def test_two_xml_files() -> None:
    pkg = example_package()
    name, xml = xml_entry(pkg)
    found = reject(repack(pkg, add=[("copy.xml", xml)]), "package-several-xml")
    assert name in found.message and "copy.xml" in found.message


def test_jpg_that_is_not_a_jpeg() -> None:
    found = reject(repack(example_package(), replace={"images/1.1.jpg": specimens.png()}), "file-not-jpeg")
    assert found.where.entry == "images/1.1.jpg"


def test_png_that_is_not_a_png() -> None:
    found = reject(repack(example_package(), replace={"images/1.2.png": specimens.jpeg()}), "file-not-png")
    assert found.where.entry == "images/1.2.png"


def test_pdf_that_is_not_a_pdf() -> None:
    found = reject(repack(example_package(), replace={"docs/dm1.pdf": b"MZ\x90\x00 not a pdf"}), "file-not-pdf")
    assert found.where.entry == "docs/dm1.pdf"


def test_png_reproductions_are_accepted() -> None:
    spec = example_spec()
    spec["designs"][0]["views"] = [{"file": "images/only.png"}]
    report = validate_package(build_package(spec, fill_missing=True))
    assert report.ok, [str(p) for p in report.problems]


def test_file_type_not_allowed() -> None:
    found = reject(repack(example_package(), add=[("run.exe", b"MZ")]), "file-type-not-allowed")
    assert found.where.entry == "run.exe"


# --------------------------------------------------------------------------- references


def test_referenced_file_missing() -> None:
    found = reject(repack(example_package(), drop=["docs/poa.pdf"]), "reference-missing")
    assert "docs/poa.pdf" in found.message
    assert found.where.path.endswith("com:FileName") and found.where.line


def test_referenced_file_missing_with_case_hint() -> None:
    pkg = example_package()
    data = repack(pkg, drop=["docs/poa.pdf"], add=[("docs/POA.pdf", specimens.pdf())])
    found = reject(data, "reference-missing")
    assert "case-sensitive" in found.message


def test_file_present_but_unreferenced() -> None:
    found = reject(repack(example_package(), add=[("docs/extra.pdf", specimens.pdf())]), "file-unreferenced")
    assert found.where.entry == "docs/extra.pdf"


@pytest.mark.parametrize("ref", ["../x.pdf", "docs/../../x.pdf", "/etc/x.pdf", "C:/x.pdf", "docs\\x.pdf", "http://h/x.pdf"])
def test_reference_escaping_the_package(ref: str) -> None:
    data = with_xml(example_package(), lambda x: x.replace(b">docs/poa.pdf<", f">{ref}<".encode()))
    found = reject(data, "reference-escapes")
    assert found.where.path.endswith("com:FileName")


def test_empty_reference() -> None:
    reject(with_xml(example_package(), lambda x: x.replace(b">docs/poa.pdf<", b"> <")), "reference-empty")


def test_view_must_be_an_image() -> None:
    spec = example_spec()
    spec["designs"][1]["views"] = [{"file": "docs/view.pdf"}]
    found = reject(build_package(spec, fill_missing=True), "view-not-image")
    assert "docs/view.pdf" in found.message


# --------------------------------------------------------------------------- document kinds


def test_pdf_without_document_kind() -> None:
    data = with_tree(
        example_package(), lambda r: remove(r, "//com:DocumentIncluded[com:FileName='docs/poa.pdf']/com:DocumentKindCategory")
    )
    found = reject(data, "document-kind-missing")
    assert "docs/poa.pdf" in found.message and "POWER_OF_ATTORNEY" in found.message


def test_document_kind_not_allowed_for_application() -> None:
    spec = example_spec()
    spec["documents"][1]["kind"] = "REFUSAL_DECISION"
    found = reject(build_package(spec, fill_missing=True), "document-kind-not-allowed")
    assert "REFUSAL_DECISION" in found.message and "INTERNATIONAL_DESIGN_APPLICATION" in found.message


@pytest.mark.parametrize(
    ("kind", "wrong"),
    [
        (K.REFUSAL, "INVALIDATION"),
        (K.GRANT_PROTECTION, "REFUSAL_DECISION"),
        (K.INVALIDATION, "DIVISION"),
        (K.DIVISION, "INTERNATIONAL_DESIGN_APPLICATION"),
        (K.REFUSAL_WITHDRAWAL, "REFUSAL_DECISION"),
        (K.GENERIC_OFFICE_COMMUNICATION, "REFUSAL_CORRECTION"),  # category says owner change
        (K.CANCELLATION_NON_PAYMENT, "REFUSAL_DECISION"),
    ],
)
def test_document_kind_not_allowed_for_decision(kind: K, wrong: str) -> None:
    spec = example_spec(kind)
    spec["documents"][0]["kind"] = wrong
    found = reject(build_package(spec, fill_missing=True), "document-kind-not-allowed")
    assert wrong in found.message


def test_image_document_must_be_reproduction_sheets() -> None:
    spec = example_spec()
    spec["documents"].append({"file": "images/sheet.jpg", "kind": "MISCELLANEOUS"})
    found = reject(build_package(spec, fill_missing=True), "document-kind-not-allowed")
    assert "REPRODUCTION_SHEETS" in found.message
    spec["documents"][-1]["kind"] = "REPRODUCTION_SHEETS"
    assert validate_package(build_package(spec, fill_missing=True)).ok


def test_grant_kind_contradicts_prior_refusal() -> None:
    spec = example_spec(K.GRANT_PROTECTION, prior_refusal=True)
    reject(build_package(spec, fill_missing=True), "document-kind-inconsistent")


@pytest.mark.parametrize("kind", [k for k in K if k.rule.min_pdfs == 1])
def test_decision_with_zero_pdfs(kind: K) -> None:
    spec = example_spec(kind, documents=None)
    found = reject(build_package(spec, fill_missing=True), "document-count")
    assert "exactly 1" in found.message


@pytest.mark.parametrize("kind", [k for k in K if k.is_decision and k.rule.max_pdfs == 1])
def test_decision_with_two_pdfs(kind: K) -> None:
    spec = example_spec(kind)
    if "documents" not in spec:
        spec["documents"] = [{"file": "a.pdf", "kind": "MISCELLANEOUS"}]
    spec["documents"].append({**spec["documents"][0], "file": "second.pdf"})
    found = reject(build_package(spec, fill_missing=True), "document-count")
    assert "2 PDF" in found.message


# --------------------------------------------------------------------------- transaction


def test_office_code_differs_from_the_sender() -> None:
    found = reject(example_package(), "office-code-mismatch", office="US")
    assert "'KR'" in found.message and "'US'" in found.message
    assert found.where.path.endswith("com:IPOfficeCode")


def test_office_code_matches_case_insensitively() -> None:
    assert validate_package(example_package(), office="kr").ok


def test_office_code_missing() -> None:
    def strip(root: etree._Element) -> None:
        remove(root, "dgn:HagueOfficeTransactionHeader/com:IPOfficeCode")
        remove(root, "//dgn:HagueApplication/com:IPOfficeCode")

    reject(with_tree(example_package(), strip), "office-code-missing")


def test_office_codes_inconsistent() -> None:
    data = with_tree(example_package(), lambda r: setattr(find(r, "//dgn:HagueApplication/com:IPOfficeCode"), "text", "JP"))
    reject(data, "office-code-inconsistent")


def test_wrong_root_element() -> None:
    def rename(root: etree._Element) -> None:
        root.tag = "{%s}HagueIBToOfficeTransaction" % NS["dgn"]

    found = reject(with_tree(example_package(), rename), "xml-root-wrong")
    assert "HagueIBToOfficeTransaction" in found.message


def test_root_in_wrong_namespace() -> None:
    def rename(root: etree._Element) -> None:
        root.tag = "{urn:other}HagueOfficeToIBTransaction"

    assert "namespace" in reject(with_tree(example_package(), rename), "xml-root-wrong").message


def test_unknown_st96_version() -> None:
    data = with_tree(example_package(), lambda r: r.set("{%s}st96Version" % NS["com"], "V9_9"))
    assert "V9_9" in reject(data, "st96-version-unknown").message


def test_missing_st96_version() -> None:
    reject(with_tree(example_package(), lambda r: r.attrib.pop("{%s}st96Version" % NS["com"])), "st96-version-missing")


def test_bag_with_two_transactions() -> None:
    import copy

    def double(root: etree._Element) -> None:
        bag = find(root, "dgn:HagueOfficeToIBBag")
        bag.append(copy.deepcopy(bag[0]))

    found = reject(with_tree(example_package(K.REFUSAL), double), "bag-several-transactions")
    assert "one package per transaction" in found.message


def test_empty_bag() -> None:
    reject(with_tree(example_package(), lambda r: remove(r, "dgn:HagueOfficeToIBBag/*")), "bag-empty")


def test_missing_bag_and_header() -> None:
    data = with_tree(example_package(), lambda r: [r.remove(el) for el in list(r)])
    report = validate_package(data)
    assert {"bag-missing", "header-missing"} <= report.codes


def test_unknown_transaction_element() -> None:
    def rename(root: etree._Element) -> None:
        find(root, "dgn:HagueOfficeToIBBag/*").tag = "{%s}HagueRenewal" % NS["dgn"]

    assert "HagueRenewal" in reject(with_tree(example_package(K.REFUSAL), rename), "transaction-unknown").message


def test_header_count_mismatch() -> None:
    data = with_tree(
        example_package(),
        lambda r: setattr(find(r, "dgn:HagueOfficeTransactionHeader/com:TransactionTotalQuantity"), "text", "3"),
    )
    reject(data, "header-count-mismatch")


def test_invalid_irn() -> None:
    assert "DM/12" in reject(build_package(example_spec(K.REFUSAL, irn="DM/12"), fill_missing=True), "irn-invalid").message


def test_missing_irn() -> None:
    data = with_tree(example_package(K.REFUSAL), lambda r: remove(r, "//com:InternationalRegistrationNumber"))
    reject(data, "irn-missing")


def test_duplicate_design_identifiers() -> None:
    spec = example_spec()
    spec["designs"][1]["id"] = "1"
    reject(build_package(spec, fill_missing=True), "design-identifier-duplicate")


def test_duplicate_designation() -> None:
    reject(build_package(example_spec(designations=["EM", "EM"]), fill_missing=True), "designation-duplicate")


def test_immediate_publication_and_deferment() -> None:
    reject(build_package(example_spec(immediate_publication=True), fill_missing=True), "publication-conflict")


def test_design_count_mismatch() -> None:
    data = with_tree(example_package(), lambda r: setattr(find(r, "//dgn:DesignTotalQuantity"), "text", "5"))
    reject(data, "count-mismatch")


def test_view_count_mismatch() -> None:
    data = with_tree(example_package(), lambda r: setattr(find(r, "//dgn:HagueApplication/dgn:ViewTotalQuantity"), "text", "9"))
    reject(data, "count-mismatch")


def test_every_problem_is_listed_at_once() -> None:
    pkg = example_package()
    data = repack(pkg, drop=["docs/poa.pdf"], replace={"images/1.1.jpg": b"GIF89a"}, add=[("x.pdf", specimens.pdf())])
    report = validate_package(data, office="JP")
    assert {"reference-missing", "file-not-jpeg", "file-unreferenced", "office-code-mismatch"} <= report.codes


def test_xsd_errors_carry_path_and_line(schemas) -> None:
    data = with_xml(example_package(), lambda x: x.replace(b"<dgn:DesignTotalQuantity>2<", b"<dgn:DesignTotalQuantity>two<"))
    found = reject(data, "xsd-invalid", schemas=schemas)
    assert found.where.path.endswith("dgn:HagueApplication/dgn:DesignTotalQuantity")
    assert found.where.line and found.where.entry.endswith(".xml")


def test_without_schema_set_a_warning_not_an_error() -> None:
    report = validate_package(example_package())
    assert report.ok and not report.schema_checked
    assert [p.code for p in report.warnings] == ["xsd-not-installed"]


def test_version_without_installed_set_is_a_warning(schemas) -> None:
    data = with_tree(example_package(), lambda r: r.set("{%s}st96Version" % NS["com"], "V7_0"))
    report = validate_package(data, schemas=schemas)
    assert report.ok and not report.schema_checked
    assert "V7_0" in report.warnings[0].message


def test_content_of_an_accepted_application(schemas) -> None:
    report = validate_package(example_package(), office="KR", schemas=schemas)
    assert report.ok and report.schema_checked
    c = report.content
    assert c.transaction is K.APPLICATION and c.office == "KR" and c.office_reference == "KR-2024-0001"
    assert c.st96_version == "V6_0" and c.designated_offices == ("EM", "US", "JP")
    assert [d.identifier for d in c.designs] == ["1", "2"]
    assert [v.file for v in c.designs[0].views] == ["images/1.1.jpg", "images/1.2.png"]
    assert c.designs[0].locarno_classes == ("06-01",)
    assert c.deferment.requested and c.deferment.period == 12
    assert str(c.filing_date) == "2024-05-01" and str(c.priorities[0].filing_date) == "2024-01-10"
    assert c.payments[0].amount == "397.00" and c.payments[0].currency == "CHF"
    assert [(d.file, d.kind) for d in c.documents] == [
        ("docs/dm1.pdf", "INTERNATIONAL_DESIGN_APPLICATION"),
        ("docs/poa.pdf", "POWER_OF_ATTORNEY"),
    ]
    assert set(c.files) == {n for n, _ in entries(example_package())}
    assert c.to_dict()["transaction"] == "HagueApplication"


def test_content_of_an_accepted_decision() -> None:
    report = validate_package(example_package(K.REFUSAL), office="KR")
    c = report.content
    assert c.transaction is K.REFUSAL and c.irn == "DM/200000"
    assert c.affected_designs == ("1", "2") and str(c.decision_date) == "2024-04-30"
    assert [(d.file, d.kind) for d in c.documents] == [("refusal.pdf", "REFUSAL_DECISION")]
