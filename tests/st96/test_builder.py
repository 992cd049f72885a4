"""The package builder: every transaction kind of spec §5 validates against WIPO's
official V6_0 schema and passes the validator; descriptions load from YAML and TOML."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest
import yaml
from lxml import etree

from hws.st96 import specimens
from hws.st96.builder import BuildError, build_package, build_package_file, build_xml, load_spec
from hws.st96.examples import ALL, example_package, example_spec
from hws.st96.package import validate_package
from hws.st96.transactions import TransactionKind as K
from tests.st96.repack import entries, xml_entry


@pytest.mark.parametrize("kind", list(K))
def test_every_kind_validates_against_the_official_xsd(kind: K, schemas) -> None:
    xml, _refs = build_xml(example_spec(kind))
    compiled = schemas.compiled("V6_0")
    tree = etree.fromstring(xml).getroottree()
    assert compiled.errors(tree, 20) == []
    assert etree.QName(tree.getroot()[1][0]).localname == kind.value
    report = validate_package(build_package(example_spec(kind), fill_missing=True), office="KR", schemas=schemas)
    assert report.ok and report.schema_checked, [str(p) for p in report.problems]
    assert report.content.transaction is kind
    if kind.is_decision:
        assert report.content.irn == "DM/200000"


@pytest.mark.parametrize(
    "category",
    [
        "Refusal owner change",
        "Refusal withdrawal owner change",
        "Refusal correction",
        "Refusal correction withdrawal",
        "Refusal",
        "Other",
    ],
)
def test_generic_communication_categories(category: str, schemas) -> None:
    kinds = {
        "Refusal owner change": "REFUSAL_OWNERSHIP_CHANGE",
        "Refusal withdrawal owner change": "REFUSAL_WITHDRAWAL_CHANGE",
        "Refusal correction": "REFUSAL_CORRECTION",
        "Refusal correction withdrawal": "REFUSAL_WITHDRAWAL_CORRECTION",
        "Refusal": "REFUSAL_DECISION",
        "Other": "MISCELLANEOUS",
    }
    spec = example_spec(K.GENERIC_OFFICE_COMMUNICATION, category=category)
    spec["documents"][0]["kind"] = kinds[category]
    report = validate_package(build_package(spec, fill_missing=True), schemas=schemas)
    assert report.ok, [str(p) for p in report.problems]
    assert report.content.generic_category == category


def test_generic_communication_by_office_reference(schemas) -> None:
    spec = example_spec(K.GENERIC_OFFICE_COMMUNICATION, irn=None)
    report = validate_package(build_package(spec, fill_missing=True), schemas=schemas)
    assert report.ok, [str(p) for p in report.problems]


def test_application_variants_validate(schemas) -> None:
    spec = example_spec(
        deferment=None,
        immediate_publication=True,
        representative=None,
        payment={"reference": "OfficeRef12345", "method": "Payment made to the office of indirect filing", "amount": 100},
    )
    spec["applicants"] = [{"person": "Jane Doe", "country": "US", "nationality": "US"}]
    spec["designs"] = [{"product": "Lamp", "locarno": [{"edition": "14", "class": "26", "subclass": "05"}], "views": ["v.png"]}]
    report = validate_package(build_package(spec, fill_missing=True), schemas=schemas)
    assert report.ok, [str(p) for p in report.problems]
    assert report.content.immediate_publication is True and report.content.deferment.requested is False


def test_decision_designs_and_affected_designs(schemas) -> None:
    spec = example_spec(K.GRANT_PROTECTION, affected_designs=["2"])
    spec["designs"] = [{"id": "2", "product": "Table", "locarno": "06-03", "views": ["g/2.1.jpg"]}]
    report = validate_package(build_package(spec, fill_missing=True), schemas=schemas)
    assert report.ok, [str(p) for p in report.problems]
    assert report.content.affected_designs == ("2",) and report.content.designs[0].views[0].file == "g/2.1.jpg"


def test_files_from_a_mapping_and_from_a_folder(tmp_path: Path) -> None:
    spec = example_spec(K.REFUSAL)
    pdf = specimens.pdf("refusal of DM/200000")
    from_map = build_package(spec, {"refusal.pdf": pdf})
    (tmp_path / "refusal.pdf").write_bytes(pdf)
    from_dir = build_package(spec, tmp_path)
    assert from_map == from_dir  # reproducible bytes
    assert dict(entries(from_map))["refusal.pdf"] == pdf


def test_missing_file_is_a_build_error() -> None:
    with pytest.raises(BuildError, match=r"refusal\.pdf"):
        build_package(example_spec(K.REFUSAL), {})


def test_file_outside_the_folder_is_a_build_error(tmp_path: Path) -> None:
    spec = example_spec(K.REFUSAL)
    spec["documents"][0]["file"] = "../outside.pdf"
    with pytest.raises(BuildError, match="outside"):
        build_package(spec, tmp_path)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"transaction": "renewal"}, "unknown transaction kind"),
        ({"transaction": None}, "'transaction' is required"),
        ({"office": None}, "'office' is required"),
        ({"version": "V5_0"}, "V5_0"),
        ({"request_date": "yesterday"}, "not a date"),
        ({"designs": None}, "'designs' is required"),
    ],
)
def test_build_errors_say_what_to_fix(changes: dict, message: str) -> None:
    with pytest.raises(BuildError, match=message):
        build_xml(example_spec(**changes))


def test_yaml_and_toml_descriptions(tmp_path: Path) -> None:
    spec = example_spec(K.DIVISION)
    (tmp_path / "division.pdf").write_bytes(specimens.pdf())
    (tmp_path / "d.yaml").write_text(yaml.safe_dump(spec))
    toml = "\n".join(
        [
            'transaction = "division"',
            'office = "KR"',
            'irn = "DM/200000"',
            "request_date = 2024-05-02",
            "[[division]]",
            'design = "1"',
            "[[documents]]",
            'file = "division.pdf"',
            'kind = "DIVISION"',
        ]
    )
    (tmp_path / "d.toml").write_text(toml)
    for name in ("d.yaml", "d.toml"):
        out = build_package_file(tmp_path / name, tmp_path / f"{name}.zip")
        report = validate_package(out.read_bytes(), office="KR")
        assert report.ok, [str(p) for p in report.problems]
        assert report.content.transaction is K.DIVISION
    assert load_spec(tmp_path / "d.toml")["division"] == [{"design": "1"}]


def test_unreadable_description(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("transaction: [unclosed")
    with pytest.raises(BuildError, match="cannot read"):
        load_spec(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(BuildError, match="mapping"):
        load_spec(tmp_path / "list.yaml")


def test_examples_cover_every_kind() -> None:
    assert set(ALL) == set(K)
    assert xml_entry(example_package("refusal"))[0] == "HagueRefusalRequest.xml"


# --------------------------------------------------------------------------- specimens


def test_specimen_jpeg_structure() -> None:
    data = specimens.jpeg(20, 12)
    assert data.startswith(b"\xff\xd8\xff\xe0") and data.endswith(b"\xff\xd9")
    sof = data.index(b"\xff\xc0")
    height, width = struct.unpack(">HH", data[sof + 5 : sof + 9])
    assert (width, height) == (20, 12)


def test_specimen_png_chunks_have_valid_crcs() -> None:
    data = specimens.png(3, 2)
    pos = 8
    kinds = []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + body) == crc
        kinds.append(kind)
        pos += 12 + length
    assert kinds == [b"IHDR", b"IDAT", b"IEND"]


def test_specimen_pdf_xref_offsets_point_at_objects() -> None:
    data = specimens.pdf("hello (world)")
    start = int(data.rsplit(b"startxref\n", 1)[1].split(b"\n")[0])
    lines = data[start:].split(b"\n")
    assert lines[0] == b"xref"
    for number, line in enumerate(lines[3:8], start=1):
        offset = int(line[:10])
        assert data[offset:].startswith(f"{number} 0 obj".encode())
