"""The weekly publication writer: bulletin and confidential copies (spec §7).

Every XML written is validated against WIPO's official
``HagueIBToOfficeTransaction_V6_0.xsd`` (``../shared/st96``, never copied here).
"""

from __future__ import annotations

import hashlib
import io
import random
import tracemalloc
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from typing import Any, BinaryIO

import pytest
from lxml import etree

from hws.st96 import safexml, specimens
from hws.st96.examples import example_package
from hws.st96.namespaces import COM, DGN
from hws.st96.package import validate_package
from hws.st96.publication import (
    Decision,
    DecisionDocument,
    Design,
    Designation,
    Grounds,
    NothingToPublish,
    Party,
    Priority,
    PublicationError,
    Registration,
    RegistrationStream,
    View,
    bulletin_category,
    decision_from_service_request,
    irn_folder,
    manifest_sha256,
    registration_from_service_request,
    write_bulletin,
    write_confidential_copy,
)
from hws.st96.schemaset import IB_TO_OFFICE, SchemaSet

WEEK = "202420"
FRIDAY = date(2024, 5, 17)
NS = {"com": COM, "dgn": DGN}
MEDIA = {"pdf": "application/pdf", "jpg": "image/jpeg", "png": "image/png", "xml": "application/xml"}


# --------------------------------------------------------------------------- fixtures


class Blobs:
    """An in-memory blob store keyed by sha256, counting the opens."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self.opened: list[str] = []

    def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        self.data[digest] = data
        return digest

    def open(self, sha256: str) -> BinaryIO:
        self.opened.append(sha256)
        return io.BytesIO(self.data[sha256])


def stored_files(blobs: Blobs, content: Any) -> list[dict[str, Any]]:
    """What the service stores per SR: every package file as a blob (see import_processing)."""
    kinds = {d.file: d.kind for d in content.documents}
    out = []
    for name, data in sorted(content.files.items()):
        kind = "ST96_XML" if name == content.xml_entry else kinds.get(name) or "REPRODUCTION"
        out.append(
            {
                "path": name,
                "sha256": blobs.put(data),
                "size": len(data),
                "media_type": MEDIA[name.rsplit(".", 1)[1]],
                "kind": kind,
            }
        )
    return out


def from_package(blobs: Blobs, kind: str) -> tuple[dict[str, Any], list[dict[str, Any]], bytes]:
    content = validate_package(example_package(kind, office="KR"), office="KR").content
    assert content is not None
    return content.to_json(), stored_files(blobs, content), content.files[content.xml_entry]


def image(blobs: Blobs, name: str, salt: str) -> tuple[str, str]:
    """A distinct specimen image (JPEG or PNG by name) and its sha256."""
    data = specimens.for_name(name) + salt.encode()  # trailing bytes keep it a valid image
    media = MEDIA[name.rsplit(".", 1)[1]]
    return blobs.put(data), media


def hand_registration(
    blobs: Blobs, irn: str, srn: str, *, designs: int, offices: tuple[str, ...], deferred: bool
) -> Registration:
    built = []
    for i in range(1, designs + 1):
        views = []
        for j, (vtype, ext) in enumerate((("Front", "jpg"), ("Back", "png"), (None, "jpg")), start=1):
            sha, media = image(blobs, f"v.{ext}", f"{irn}-{i}-{j}")
            views.append(View(f"{i}.{j}", vtype, f"images/{i}.{j}.{ext}", sha, media))
        built.append(
            Design(
                identifier=str(i),
                product=f"Lamp {i}",
                locarno_classes=("26-05", "26") if i == 1 else ("26-05",),
                views=tuple(views),
                description="A lamp <with> & odd characters" if i == 1 else None,
                priorities=(Priority("CH", date(2023, 11, 2), "CH-123"),) if i == 1 else (),
            )
        )
    return Registration(
        irn=irn,
        srn=srn,
        registration_date=date(2024, 5, 13),
        filing_date=date(2024, 5, 6),
        expected_publication_date=FRIDAY if not deferred else date(2025, 11, 7),
        holders=(
            Party(
                "Lumière SA",
                legal_entity_name="Lumière SA",
                nationality="CH",
                entitlement_domicile="CH",
                contracting_party="CH",
                address_lines=("Rue du Rhône 1", "Case postale 5"),
                city="Genève",
                postal_code="1204",
                country="CH",
            ),
            Party("Jane Doe", person=True, address_lines=("Somewhere 3",)),
        ),
        designations=tuple(Designation(o, "Act1999" if o == "JP" else None) for o in offices),
        designs=tuple(built),
        language="fr",
        deferment_expiry_date=date(2025, 11, 6) if deferred else None,
        office_reference="CH-77",
    )


def decision(blobs: Blobs, kind: str, irn: str, srn: str, office: str, **extra: Any) -> Decision:
    doc = None
    if extra.pop("document", True):
        pdf = specimens.for_name("d.pdf") + srn.encode()
        doc = DecisionDocument("decision.pdf", blobs.put(pdf), "application/pdf", extra.pop("doc_kind", "REFUSAL_DECISION"))
    return Decision(
        irn=irn,
        srn=srn,
        kind=kind,
        office=office,
        recorded_date=date(2024, 5, 15),
        decision_date=date(2024, 5, 2),
        document=doc,
        **extra,
    )


@pytest.fixture
def blobs() -> Blobs:
    return Blobs()


@pytest.fixture
def week_input(blobs: Blobs) -> dict[str, Any]:
    """A week with three registrations and five kinds of decision (plus one the bulletin has no bag for)."""
    data, files, xml = from_package(blobs, "application")
    from_sr = registration_from_service_request(
        data,
        files,
        xml,
        irn="DM/200000",
        srn="970000001",
        registration_date=date(2024, 5, 10),
        expected_publication_date=FRIDAY,
    )
    regs = [
        hand_registration(blobs, "DM/200123", "970000007", designs=3, offices=("CH", "JP", "EM", "KR"), deferred=False),
        from_sr,
        hand_registration(blobs, "DM/200045", "970000003", designs=1, offices=("US",), deferred=True),
    ]
    refusal = decision_from_service_request(*from_package(blobs, "refusal"), srn="970000010", recorded_date=date(2024, 5, 14))
    decisions = [
        refusal,
        decision(
            blobs,
            "HagueGrantProtectionRequest",
            "DM/199999",
            "970000011",
            "JP",
            prior_refusal=True,
            effective_date=date(2024, 5, 3),
            doc_kind="GRANT_OF_PROTECTION_AFTER_REFUSAL",
            amendment="Colour claim",
        ),
        decision(
            blobs,
            "HagueRefusalWithdrawalRequest",
            "DM/199998",
            "970000012",
            "JP",
            affected_designs=("2",),
            doc_kind="GRANT_OF_PROTECTION_AFTER_REFUSAL",
        ),
        decision(
            blobs,
            "HagueInvalidationRequest",
            "DM/199997",
            "970000013",
            "EM",
            remedies=("Appeal",),
            doc_kind="INVALIDATION",
            comment="Court ruling",
        ),
        decision(blobs, "HagueCancellationNonPaymentRequest", "DM/199996", "970000014", "US", document=False),
        decision(
            blobs,
            "HagueRefusalRequest",
            "DM/199995",
            "970000015",
            "EM",
            grounds=(Grounds(("Not new", "Prior art"), ("Lack of novelty",)),),
        ),
        decision(blobs, "HagueDivision", "DM/199994", "970000016", "KR", doc_kind="DIVISION"),
    ]
    return {"registrations": regs, "decisions": decisions}


def bulletin(blobs: Blobs, week_input: dict[str, Any], **kw: Any) -> tuple[bytes, Any]:
    out = io.BytesIO()
    summary = write_bulletin(out, week=WEEK, publication_date=FRIDAY, open_blob=blobs.open, **{**week_input, **kw})
    return out.getvalue(), summary


def xml_of(zip_bytes: bytes, name: str) -> etree._ElementTree:
    return safexml.parse(zipfile.ZipFile(io.BytesIO(zip_bytes)).read(name))


def assert_valid(schemas: SchemaSet, tree: etree._ElementTree) -> None:
    compiled = schemas.compiled("V6_0", IB_TO_OFFICE)
    assert compiled is not None, "HagueIBToOfficeTransaction_V6_0.xsd not found"
    errors = compiled.errors(tree, 20)
    assert errors == [], "\n".join(f"{e.line}: {e.message}" for e in errors)


# --------------------------------------------------------------------------- the bulletin


def test_bulletin_validates_against_the_official_schema(blobs: Blobs, week_input: dict[str, Any], schemas: SchemaSet) -> None:
    data, summary = bulletin(blobs, week_input)
    tree = xml_of(data, "HagueBulletin_202420.xml")
    assert_valid(schemas, tree)

    root = tree.getroot()
    assert root.tag == f"{{{DGN}}}HagueIBToOfficeTransaction"
    assert root.get(f"{{{COM}}}st96Version") == "V6_0"
    header = root.find("dgn:HagueBulletin/dgn:HagueBulletinTransactionHeader", NS)
    assert header.findtext("dgn:HagueBulletinNumber", namespaces=NS) == "2024/20"
    assert header.findtext("com:PublicationDate", namespaces=NS) == "2024-05-17"
    counts = {
        c.findtext("dgn:HagueBulletinTransactionCategory", namespaces=NS): int(
            c.findtext("com:TransactionTotalQuantity", namespaces=NS)
        )
        for c in header.iterfind("dgn:HagueBulletinTransactionCountBag/dgn:HagueBulletinTransactionCount", NS)
    }
    assert counts == {
        "Registration": 3,
        "Refusal": 2,
        "Refusal withdrawal": 1,
        "Grant protection": 1,
        "Invalidation": 1,
        "Cancellation non payment": 1,
    }
    assert int(header.findtext("com:TransactionTotalQuantity", namespaces=NS)) == 9 == summary.transaction_total

    bag = root.find("dgn:HagueBulletin/dgn:HagueBulletinTransactionBag", NS)
    assert [etree.QName(b).localname for b in bag] == [
        "HagueRegistrationBag",
        "HagueRefusalBag",
        "HagueRefusalWithdrawalBag",
        "HagueGrantProtectionBag",
        "HagueInvalidationBag",
        "HagueCancellationNonPaymentBag",
    ]
    irns = [
        r.findtext("com:InternationalRegistrationNumber", namespaces=NS)
        for r in bag.iterfind("dgn:HagueRegistrationBag/dgn:HagueRegistration", NS)
    ]
    assert irns == ["DM/200000", "DM/200045", "DM/200123"] == list(summary.registrations)
    # the division has no bag in the bulletin: left out and reported
    assert [(irn, kind) for irn, kind, _ in summary.skipped] == [("DM/199994", "HagueDivision")]


def test_registration_content(blobs: Blobs, week_input: dict[str, Any]) -> None:
    data, _ = bulletin(blobs, week_input)
    root = xml_of(data, "HagueBulletin_202420.xml").getroot()
    regs = {r.findtext("com:InternationalRegistrationNumber", namespaces=NS): r for r in root.iter(f"{{{DGN}}}HagueRegistration")}

    sr = regs["DM/200000"]  # built from the office's package by the helper
    assert sr.findtext("com:RecordIdentifier", namespaces=NS) == "970000001"
    assert sr.findtext("com:InternationalFilingDate", namespaces=NS) == "2024-05-01"
    assert sr.findtext("com:ExpiryDate", namespaces=NS) == "2029-05-10"
    assert [
        d.findtext("com:DesignatedCountryCode", namespaces=NS)
        for d in sr.iterfind("dgn:DesignatedCountryBag/dgn:DesignatedCountry", NS)
    ] == ["EM", "US", "JP"]
    assert (
        sr.findtext("dgn:DesignatedCountryBag/dgn:DesignatedCountry[2]/dgn:HagueAgreementActCategory", namespaces=NS) == "Act1999"
    )
    holder = sr.find("dgn:HolderBag/dgn:Holder", NS)
    assert (
        holder.findtext("com:Contact/com:Name/com:OrganizationName/com:OrganizationStandardName", namespaces=NS)
        == "ACME Corporation"
    )
    assert holder.findtext(".//com:CityName", namespaces=NS) == "Seoul"
    assert sr.findtext("com:RepresentativeBag/com:Representative//com:PersonFullName", namespaces=NS) == "Kim Min-jun"
    # 12 months of deferment from the priority date (2024-01-10)
    assert sr.findtext("dgn:DefermentExpiryDate", namespaces=NS) == "2025-01-10"
    design = sr.find("dgn:HagueDesignBag/dgn:HagueDesign", NS)
    assert design.findtext("dgn:DesignDescriptionTextBag/dgn:DesignDescriptionText", namespaces=NS) == "A chair with three legs"
    assert design.findtext("dgn:PriorityBag/dgn:Priority/com:PriorityCountryCode", namespaces=NS) == "KR"

    deferred = regs["DM/200045"]
    assert deferred.findtext("dgn:DefermentExpiryDate", namespaces=NS) == "2025-11-06"
    assert regs["DM/200123"].find("dgn:DefermentExpiryDate", NS) is None
    many = regs["DM/200123"]
    assert many.findtext("dgn:DesignTotalQuantity", namespaces=NS) == "3"
    assert len(many.findall("dgn:HagueDesignBag/dgn:HagueDesign/dgn:ViewBag/dgn:View", NS)) == 9
    assert many.findtext(".//dgn:DesignDescriptionText", namespaces=NS) == "A lamp <with> & odd characters"
    assert many.find(".//dgn:DesignDescriptionText", NS).get(f"{{{COM}}}languageCode") == "fr"


def test_decision_content(blobs: Blobs, week_input: dict[str, Any]) -> None:
    data, _ = bulletin(blobs, week_input)
    root = xml_of(data, "HagueBulletin_202420.xml").getroot()
    refusals = root.findall(".//dgn:HagueRefusal", NS)
    assert [r.findtext("com:InternationalRegistrationNumber", namespaces=NS) for r in refusals] == ["DM/200000", "DM/199995"]
    first = refusals[0]  # recorded on the 14th, from the office's package
    assert first.findtext("com:RecordNotifyingOfficeCode", namespaces=NS) == "KR"
    assert first.findtext("com:InternationalRecordingDate", namespaces=NS) == "2024-05-14"
    assert (
        first.findtext("dgn:DecisionGroundsBag/dgn:DecisionGrounds/dgn:DecisionGroundsCategory", namespaces=NS)
        == "Lack of novelty"
    )
    assert [d.text for d in first.iterfind("dgn:AffectedDesign/dgn:DesignIdentifierBag/dgn:DesignIdentifier", NS)] == ["1", "2"]
    grant = root.find(".//dgn:HagueGrantProtection", NS)
    assert grant.get(f"{{{DGN}}}priorRefusalIndicator") == "true"
    assert grant.findtext("dgn:AffectedDesign/dgn:AllDesignsIndicator", namespaces=NS) == "true"
    assert grant.findtext("com:DocumentIncludedBag/com:DocumentIncluded/com:FileName", namespaces=NS) == (
        "images/DM199999/GRANT_OF_PROTECTION_AFTER_REFUSAL_JP_970000011.pdf"
    )
    withdrawal = root.find(".//dgn:HagueRefusalWithdrawal", NS)
    assert withdrawal.findtext("dgn:AffectedDesign/dgn:DesignIdentifierBag/dgn:DesignIdentifier", namespaces=NS) == "2"


def test_zip_structure(blobs: Blobs, week_input: dict[str, Any]) -> None:
    data, summary = bulletin(blobs, week_input)
    zf = zipfile.ZipFile(io.BytesIO(data))
    infos = zf.infolist()
    names = [i.filename for i in infos]
    assert names[0] == "HagueBulletin_202420.xml" == summary.xml_entry
    assert [n for n in names if n.endswith(".xml")] == [names[0]]
    assert names[1:] == sorted(names[1:])
    assert all(n.startswith("images/DM") and n.count("/") == 2 for n in names[1:])
    assert len(names) == summary.entry_count
    assert manifest_sha256(zf) == summary.manifest_sha256
    assert sum(i.file_size for i in infos) == summary.entry_bytes
    for info in infos:
        assert info.date_time == (2024, 5, 17, 0, 0, 0)
        assert info.external_attr >> 16 == 0o100644
        assert info.compress_type == (zipfile.ZIP_DEFLATED if info.filename.endswith(".xml") else zipfile.ZIP_STORED)
    assert zf.testzip() is None

    # every view of every registration is there, in its IRN folder, with its bytes
    root = safexml.parse(zf.read(names[0])).getroot()
    for reg in week_input["registrations"]:
        folder = irn_folder(reg.irn)
        xml_reg = next(
            r
            for r in root.iter(f"{{{DGN}}}HagueRegistration")
            if r.findtext("com:InternationalRegistrationNumber", namespaces=NS) == reg.irn
        )
        files = [v.findtext("com:FileName", namespaces=NS) for v in xml_reg.iter(f"{{{DGN}}}View")]
        views = [v for d in reg.designs for v in d.views]
        assert len(files) == len(views)
        for view, entry in zip(views, files, strict=True):
            assert entry.startswith(f"images/{folder}/")
            assert hashlib.sha256(zf.read(entry)).hexdigest() == view.sha256
    assert "images/DM200000/1.1.jpg" in names and "images/DM200000/1.2.png" in names
    assert "images/DM200123/3.3.jpg" in names
    # decision documents beside the reproductions, under the IRN of the decision
    assert "images/DM200000/REFUSAL_DECISION_KR_970000010.pdf" in names
    assert "images/DM199997/INVALIDATION_EM_970000013.pdf" in names
    assert not any(n.startswith("images/DM199994/") for n in names)  # the division is not published
    assert not any(n.startswith("images/DM199996/") for n in names)  # no document given


#: the bytes of the fixture week's issues, pinned: a change to the writer that moves one byte
#: (entry order, ZIP headers, XML serialization) must show up here, not in the field
PINNED = {
    "bulletin": "4e7b0e0381bd49ad04b2a827f78ffdf287c05a157e4755885af40745d02b9791",
    "US": "adcacbfecc925728e245936497ab3067670af4de238ef32ecad3bd211159e45c",
    "JP": "3fac5945277c4e2fd1c7e0f406a70e987e73c0a5e259dfd96a5d5fa8f5417412",
}


def test_pinned_bytes(blobs: Blobs, week_input: dict[str, Any]) -> None:
    data, _ = bulletin(blobs, week_input)
    assert (hashlib.sha256(data).hexdigest(), len(data)) == (PINNED["bulletin"], 10984)
    for office in ("US", "JP"):
        out = io.BytesIO()
        write_confidential_copy(
            out,
            week=WEEK,
            office=office,
            publication_date=FRIDAY,
            registrations=week_input["registrations"],
            open_blob=blobs.open,
        )
        assert hashlib.sha256(out.getvalue()).hexdigest() == PINNED[office], office


def test_same_inputs_same_bytes(blobs: Blobs, week_input: dict[str, Any]) -> None:
    first, _ = bulletin(blobs, week_input)
    again, _ = bulletin(blobs, week_input)
    assert first == again
    shuffled = {k: random.Random(7).sample(v, len(v)) for k, v in week_input.items()}
    assert bulletin(blobs, shuffled)[0] == first

    class Pipe(io.RawIOBase):  # a write-only, non-seekable stream
        def __init__(self) -> None:
            self.chunks: list[bytes] = []

        def writable(self) -> bool:
            return True

        def write(self, b: Any) -> int:
            self.chunks.append(bytes(b))
            return len(b)

    pipe = Pipe()
    write_bulletin(pipe, week=WEEK, publication_date=FRIDAY, open_blob=blobs.open, **week_input)  # type: ignore[arg-type]
    assert b"".join(pipe.chunks) == first

    # a different publication date is a different issue
    other = io.BytesIO()
    write_bulletin(other, week=WEEK, publication_date=date(2024, 5, 16), open_blob=blobs.open, **week_input)
    assert other.getvalue() != first


def test_an_empty_week_has_no_valid_st96_bulletin(blobs: Blobs, schemas: SchemaSet) -> None:
    out = io.BytesIO()
    with pytest.raises(NothingToPublish):
        write_bulletin(out, week=WEEK, publication_date=FRIDAY, registrations=[], decisions=[], open_blob=blobs.open)
    assert out.getvalue() == b""
    # only kinds without a bulletin bag: still nothing to publish
    division = decision(blobs, "HagueDivision", "DM/199994", "970000016", "KR")
    with pytest.raises(NothingToPublish):
        write_bulletin(out, week=WEEK, publication_date=FRIDAY, registrations=[], decisions=[division], open_blob=blobs.open)
    assert out.getvalue() == b""

    # why: the official schema refuses a bulletin without a transaction
    empty = etree.fromstring(
        f"""<dgn:HagueIBToOfficeTransaction xmlns:dgn="{DGN}" xmlns:com="{COM}" com:st96Version="V6_0">
          <dgn:HagueBulletin><dgn:HagueBulletinTransactionHeader>
            <dgn:HagueBulletinNumber>2024/20</dgn:HagueBulletinNumber><com:PublicationDate>2024-05-17</com:PublicationDate>
            <com:TransactionTotalQuantity>0</com:TransactionTotalQuantity>
            <dgn:HagueBulletinTransactionCountBag><dgn:HagueBulletinTransactionCount>
              <dgn:HagueBulletinTransactionCategory>Registration</dgn:HagueBulletinTransactionCategory>
              <com:TransactionTotalQuantity>0</com:TransactionTotalQuantity>
            </dgn:HagueBulletinTransactionCount></dgn:HagueBulletinTransactionCountBag>
          </dgn:HagueBulletinTransactionHeader>{{bag}}</dgn:HagueBulletin></dgn:HagueIBToOfficeTransaction>""".replace(
            "{bag}", "<dgn:HagueBulletinTransactionBag/>"
        ).encode()
    )
    compiled = schemas.compiled("V6_0", IB_TO_OFFICE)
    assert compiled is not None and compiled.errors(empty.getroottree(), 5)
    with_empty_bag = etree.fromstring(
        etree.tostring(empty).replace(
            b"<dgn:HagueBulletinTransactionBag/>",
            b"<dgn:HagueBulletinTransactionBag><dgn:HagueRegistrationBag/></dgn:HagueBulletinTransactionBag>",
        )
    )
    assert compiled.errors(with_empty_bag.getroottree(), 5)


def test_a_week_of_decisions_only(blobs: Blobs, schemas: SchemaSet) -> None:
    grant = decision(
        blobs, "HagueGrantProtectionRequest", "DM/199999", "970000011", "JP", doc_kind="GRANT_OF_PROTECTION_NO_PRIOR_REFUSAL"
    )
    data, summary = bulletin(blobs, {"registrations": [], "decisions": [grant]})
    assert_valid(schemas, xml_of(data, summary.xml_entry))
    assert summary.registrations == () and summary.decisions == (("Grant protection", 1),)


def test_inconsistent_inputs_are_refused(blobs: Blobs, week_input: dict[str, Any]) -> None:
    with pytest.raises(PublicationError, match="not in week"):
        write_bulletin(io.BytesIO(), week=WEEK, publication_date=date(2024, 5, 24), open_blob=blobs.open, **week_input)
    with pytest.raises(PublicationError, match="yyyyww"):
        write_bulletin(io.BytesIO(), week="2024-20", publication_date=FRIDAY, open_blob=blobs.open, **week_input)
    twice = {**week_input, "registrations": week_input["registrations"] + week_input["registrations"][:1]}
    with pytest.raises(PublicationError, match="twice"):
        write_bulletin(io.BytesIO(), week=WEEK, publication_date=FRIDAY, open_blob=blobs.open, **twice)
    with pytest.raises(PublicationError, match="DM/nnnnnn"):
        replace(week_input["registrations"][0], irn="DM/../../etc")
    for irn in (
        "DM/200000\n",
        "DM/\u0662\u0660\u0660\u0660\u0660\u0660",
        " DM/200000",
    ):  # a newline or other digits in a ZIP folder name
        with pytest.raises(PublicationError, match="DM/nnnnnn"):
            replace(week_input["registrations"][0], irn=irn)
    undated = replace(week_input["decisions"][0], decision_date=None)
    with pytest.raises(PublicationError, match="decision date"):
        write_bulletin(
            io.BytesIO(), week=WEEK, publication_date=FRIDAY, registrations=[], decisions=[undated], open_blob=blobs.open
        )


def test_a_blob_that_does_not_match_its_digest_is_not_published(blobs: Blobs, week_input: dict[str, Any]) -> None:
    view = week_input["registrations"][0].designs[0].views[0]
    blobs.data[view.sha256] = b"\xff\xd8\xff tampered"
    with pytest.raises(PublicationError, match="reads back as"):
        bulletin(blobs, week_input)


def test_repeated_view_identifiers_get_distinct_names(blobs: Blobs, schemas: SchemaSet) -> None:
    reg = hand_registration(blobs, "DM/200001", "970000002", designs=2, offices=("KR",), deferred=False)
    designs = tuple(
        replace(d, views=tuple(replace(v, identifier=str(j)) for j, v in enumerate(d.views, start=1))) for d in reg.designs
    )
    reg = replace(reg, designs=designs)
    data, summary = bulletin(blobs, {"registrations": [reg], "decisions": []})
    assert_valid(schemas, xml_of(data, summary.xml_entry))
    assert zipfile.ZipFile(io.BytesIO(data)).namelist()[1:] == [
        "images/DM200001/1-1.jpg",
        "images/DM200001/1-2.png",
        "images/DM200001/1-3.jpg",
        "images/DM200001/2-1.jpg",
        "images/DM200001/2-2.png",
        "images/DM200001/2-3.jpg",
    ]


# --------------------------------------------------------------------------- confidential copies


def test_confidential_copy(blobs: Blobs, week_input: dict[str, Any], schemas: SchemaSet) -> None:
    regs = week_input["registrations"]
    out = io.BytesIO()
    summary = write_confidential_copy(
        out, week=WEEK, office="us", publication_date=FRIDAY, registrations=regs, open_blob=blobs.open
    )
    assert summary.xml_entry == "HagueConfidentialCopy_US_202420.xml" and summary.office == "US"
    # DM/200000 designates US; DM/200045 designates only US and is deferred; DM/200123 does not designate US
    assert summary.registrations == ("DM/200000", "DM/200045")
    assert [s[0] for s in summary.skipped] == ["DM/200123"]
    tree = xml_of(out.getvalue(), summary.xml_entry)
    assert_valid(schemas, tree)
    root = tree.getroot()
    header = root.find("dgn:HagueIBToOfficeBag/dgn:HagueIBTransactionHeader", NS)
    assert header.findtext("com:ReceivingOfficeCode", namespaces=NS) == "US"
    assert header.findtext("com:PublicationIdentifier", namespaces=NS) == "2024/20"
    assert header.findtext("com:RecordNotificationDate", namespaces=NS) == "2024-05-17"
    assert header.findtext(".//dgn:HagueIBTransactionCategory", namespaces=NS) == "Office copy"
    assert header.findtext("com:TransactionTotalQuantity", namespaces=NS) == "2"
    regs_xml = root.findall("dgn:HagueIBToOfficeBag/dgn:HagueOfficeCopyBag/dgn:HagueRegistrationBag/dgn:HagueRegistration", NS)
    assert [r.findtext("dgn:DefermentExpiryDate", namespaces=NS) for r in regs_xml] == ["2025-01-10", "2025-11-06"]

    zf = zipfile.ZipFile(out)
    names = zf.namelist()
    assert names[0] == summary.xml_entry
    assert {n.split("/")[1] for n in names[1:]} == {"DM200000", "DM200045"}  # nothing of DM200123
    assert manifest_sha256(zf) == summary.manifest_sha256 and len(names) == summary.entry_count
    copied = {hashlib.sha256(zf.read(n)).hexdigest() for n in names[1:]}
    for reg in regs[1:]:
        for view in (v for d in reg.designs for v in d.views):
            assert view.sha256 in copied

    again = io.BytesIO()
    write_confidential_copy(
        again, week=WEEK, office="US", publication_date=FRIDAY, registrations=list(reversed(regs)), open_blob=blobs.open
    )
    assert again.getvalue() == out.getvalue()


def test_no_confidential_copy_without_a_registration_for_the_office(blobs: Blobs, week_input: dict[str, Any]) -> None:
    out = io.BytesIO()
    with pytest.raises(NothingToPublish):
        write_confidential_copy(
            out, week=WEEK, office="FR", publication_date=FRIDAY, registrations=week_input["registrations"], open_blob=blobs.open
        )
    assert out.getvalue() == b""
    assert blobs.opened == []


# --------------------------------------------------------------------------- from the service's records


def test_decision_from_service_request(blobs: Blobs) -> None:
    dec = decision_from_service_request(*from_package(blobs, "refusal"), srn="970000010", recorded_date=date(2024, 5, 14))
    assert (dec.irn, dec.kind, dec.office) == ("DM/200000", "HagueRefusalRequest", "KR")
    assert dec.decision_date == date(2024, 4, 30) and dec.affected_designs == ("1", "2")
    assert dec.document is not None and dec.document.kind == "REFUSAL_DECISION"
    assert dec.document.sha256 in blobs.data
    assert dec.grounds[0].categories == ("Lack of novelty",)
    assert dec.remedies == ("Appeal within 3 months",)
    assert bulletin_category(dec.kind).element == "HagueRefusal"  # type: ignore[union-attr]
    grant = decision_from_service_request(*from_package(blobs, "grant"), srn="970000011", recorded_date=date(2024, 5, 14))
    assert grant.prior_refusal is False and grant.affected_designs is None
    assert bulletin_category("HagueDivision") is None


def test_registration_without_the_source_xml(blobs: Blobs, schemas: SchemaSet) -> None:
    data, files, _ = from_package(blobs, "application")
    reg = registration_from_service_request(
        data, files, None, irn="DM/200000", srn="970000001", registration_date=date(2024, 5, 10), expected_publication_date=FRIDAY
    )
    assert [h.name for h in reg.holders] == ["ACME Corporation"]
    assert reg.designated_offices == ("EM", "US", "JP")
    bytes_, summary = bulletin(blobs, {"registrations": [reg], "decisions": []})
    assert_valid(schemas, xml_of(bytes_, summary.xml_entry))


def test_a_view_file_missing_from_the_stored_files_is_an_error(blobs: Blobs) -> None:
    data, files, xml = from_package(blobs, "application")
    files = [f for f in files if f["path"] != "images/1.2.png"]
    with pytest.raises(PublicationError, match=r"images/1\.2\.png"):
        registration_from_service_request(
            data,
            files,
            xml,
            irn="DM/200000",
            srn="970000001",
            registration_date=date(2024, 5, 10),
            expected_publication_date=FRIDAY,
        )


# --------------------------------------------------------------------------- bounded memory


class LazyBlob(io.RawIOBase):
    """``size`` bytes produced on demand, never held whole."""

    def __init__(self, size: int) -> None:
        self.left = size
        self.block = bytes(range(256)) * 4096  # 1 MiB

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self.left, len(self.block))
        buffer[:n] = self.block[:n]
        self.left -= n
        return n


def lazy_digest(size: int) -> str:
    digest, blob = hashlib.sha256(), LazyBlob(size)
    while chunk := blob.read(1 << 20):
        digest.update(chunk)
    return digest.hexdigest()


def test_large_images_are_streamed(blobs: Blobs, tmp_path: Any) -> None:
    size = 48 * 1024 * 1024
    sha = lazy_digest(size)
    reg = hand_registration(blobs, "DM/200001", "970000002", designs=1, offices=("KR",), deferred=False)
    big = replace(reg.designs[0].views[0], sha256=sha)
    reg = replace(reg, designs=(replace(reg.designs[0], views=(big, *reg.designs[0].views[1:])),))

    def open_blob(digest: str) -> BinaryIO:
        return LazyBlob(size) if digest == sha else blobs.open(digest)  # type: ignore[return-value]

    with open(tmp_path / "b.zip", "wb") as out:
        tracemalloc.start()
        summary = write_bulletin(out, week=WEEK, publication_date=FRIDAY, registrations=[reg], open_blob=open_blob)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024, f"peak {peak} bytes for a {size} byte image"
    assert summary.entry_bytes > size
    with zipfile.ZipFile(tmp_path / "b.zip") as zf:
        assert zf.getinfo("images/DM200001/1.1.jpg").file_size == size
        assert zf.getinfo("images/DM200001/1.1.jpg").compress_type == zipfile.ZIP_STORED


def test_many_registrations_are_streamed_one_at_a_time(blobs: Blobs, tmp_path: Any, schemas: SchemaSet) -> None:
    """The XML is written while it is produced: when the last registration is turned into
    XML, most of the document is already in ``out`` (a whole tree built first would have
    written nothing yet). tracemalloc does not see lxml's C allocations, hence the probe;
    it does bound the Python side (per-entry bookkeeping only, no copy of the XML)."""
    seen: list[int] = []

    class Probe(str):
        def __str__(self) -> str:
            seen.append(out.tell())
            return "Lamp probe"

    base = hand_registration(blobs, "DM/300000", "970000000", designs=2, offices=("KR", "JP"), deferred=False)
    regs = [replace(base, irn=f"DM/{300000 + n:06d}", srn=f"970{n:06d}") for n in range(2000)]
    last = regs[-1]
    regs[-1] = replace(last, designs=(replace(last.designs[0], product=Probe("Lamp")), *last.designs[1:]))
    with open(tmp_path / "many.zip", "wb") as out:
        tracemalloc.start()
        summary = write_bulletin(out, week=WEEK, publication_date=FRIDAY, registrations=regs, open_blob=blobs.open)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    with zipfile.ZipFile(tmp_path / "many.zip") as zf:
        xml_size = zf.getinfo(summary.xml_entry).file_size
        assert xml_size > 12 * 1024 * 1024
        compressed = zf.getinfo(summary.xml_entry).compress_size
        assert seen and seen[0] > compressed / 2, (seen, compressed)
        assert summary.entry_count == len(zf.namelist()) == 1 + 2000 * 6
        assert peak < xml_size, f"peak {peak} bytes for {xml_size} bytes of XML"
        assert_valid(schemas, safexml.parse(zf.read(summary.xml_entry), max_bytes=1 << 30))


# --------------------------------------------------------------------------- streamed inputs, flat memory


def rebuilt_with_zipfile(data: bytes) -> bytes:
    """The same entries written by :mod:`zipfile` the way the writer used to (and must still match)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", allowZip64=True) as zf:
        for old in source.infolist():
            info = zipfile.ZipInfo(old.filename, date_time=old.date_time)
            info.compress_type, info.create_system, info.external_attr = old.compress_type, 3, old.external_attr
            with zf.open(info, "w", force_zip64=True) as dest:
                dest.write(source.read(old))
    return out.getvalue()


def test_zip_bytes_are_zipfiles(blobs: Blobs, week_input: dict[str, Any]) -> None:
    """The writer writes its ZIP itself (compact central-directory records instead of one
    ``ZipInfo`` per entry) and its bytes are exactly zipfile's for the same entries."""
    data, _ = bulletin(blobs, week_input)
    assert rebuilt_with_zipfile(data) == data
    out = io.BytesIO()
    write_confidential_copy(
        out, week=WEEK, office="JP", publication_date=FRIDAY, registrations=week_input["registrations"], open_blob=blobs.open
    )
    assert rebuilt_with_zipfile(out.getvalue()) == out.getvalue()


def test_zip64_end_records_past_65535_entries() -> None:
    """More entries than a plain end record counts: zipfile's ZIP64 end records, byte for byte.
    (Entries and archives past 2 GiB — ZIP64 sizes and offsets in the central directory —
    follow zipfile's rules too; too slow to write here.)"""
    from hws.st96.publication.archive import _ZipWriter

    n = 65_540
    ours = io.BytesIO()
    zw = _ZipWriter(ours, FRIDAY)
    for i in range(n):
        sink = zw.entry(f"images/DM{i:06d}/1.jpg", compress=i % 1000 == 0)
        sink.write(b"x" * (i % 7))
        zw.done(sink)
    zw.finish()
    zw.close()
    theirs = io.BytesIO()
    with zipfile.ZipFile(theirs, "w", allowZip64=True) as zf:
        for i in range(n):
            info = zipfile.ZipInfo(f"images/DM{i:06d}/1.jpg", date_time=(2024, 5, 17, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED if i % 1000 == 0 else zipfile.ZIP_STORED
            info.create_system, info.external_attr = 3, 0o100644 << 16
            with zf.open(info, "w", force_zip64=True) as dest:
                dest.write(b"x" * (i % 7))
    assert ours.getvalue() == theirs.getvalue()
    assert b"PK\x06\x06" in ours.getvalue()[-200:]


def test_a_stream_in_irn_order_gives_the_same_bytes(blobs: Blobs, week_input: dict[str, Any]) -> None:
    regs = sorted(week_input["registrations"], key=lambda r: r.irn)
    listed, summary = bulletin(blobs, week_input)
    streamed, again = bulletin(blobs, week_input, registrations=RegistrationStream(len(regs), lambda: iter(regs)))
    assert streamed == listed and again == summary

    us = [r for r in regs if "US" in r.designated_offices]
    a, b = io.BytesIO(), io.BytesIO()
    write_confidential_copy(a, week=WEEK, office="US", publication_date=FRIDAY, registrations=regs, open_blob=blobs.open)
    # a stream counts the registrations designating the office; others in it are skipped
    copy = write_confidential_copy(b, week=WEEK, office="US", publication_date=FRIDAY,
                                   registrations=RegistrationStream(len(us), lambda: iter(regs)), open_blob=blobs.open)  # fmt: skip
    assert a.getvalue() == b.getvalue() and copy.skipped == (("DM/200123", "HagueRegistration", "does not designate US"),)


def test_a_stream_out_of_order_or_miscounted_is_refused(blobs: Blobs, week_input: dict[str, Any]) -> None:
    regs = sorted(week_input["registrations"], key=lambda r: r.irn)

    def write(stream: RegistrationStream, **kw: Any) -> None:
        bulletin(blobs, week_input, registrations=stream, **kw)

    with pytest.raises(PublicationError, match="out of IRN order"):
        write(RegistrationStream(3, lambda: reversed(regs)))
    with pytest.raises(PublicationError, match="twice"):
        write(RegistrationStream(4, lambda: [*regs, regs[-1]]))
    with pytest.raises(PublicationError, match="instead of the 4 announced"):
        write(RegistrationStream(4, lambda: regs))
    with pytest.raises(PublicationError, match="more registrations than the 2 announced"):
        write(RegistrationStream(2, lambda: regs))
    with pytest.raises(PublicationError, match="more registrations than the 0 announced"):
        write(RegistrationStream(0, lambda: regs))
    with pytest.raises(NothingToPublish):
        write(RegistrationStream(0, lambda: []), decisions=[])


def test_streamed_registrations_keep_memory_flat(blobs: Blobs, tmp_path: Any) -> None:
    """Streamed, ten times the registrations (and ZIP entries) cost almost no more memory:
    nothing is kept per entry; per registration, its IRN for the summary (≈ 70 bytes)."""
    base = hand_registration(blobs, "DM/300000", "970000000", designs=2, offices=("KR",), deferred=False)

    def peak(n: int) -> int:
        def produce() -> Iterator[Registration]:
            return (replace(base, irn=f"DM/{300000 + i:06d}", srn=f"970{i:06d}") for i in range(n))

        with open(tmp_path / f"{n}.zip", "wb") as out:
            tracemalloc.start()
            summary = write_bulletin(
                out,
                week=WEEK,
                publication_date=FRIDAY,
                registrations=RegistrationStream(n, produce),
                open_blob=lambda sha: io.BytesIO(blobs.data[sha]),
            )  # (blobs.open keeps a list)
            _, top = tracemalloc.get_traced_memory()
            tracemalloc.stop()
        assert summary.entry_count == 1 + 6 * n
        return top

    small, large = peak(200), peak(2000)
    # per extra registration (6 ZIP entries): under 256 bytes — the IRN kept for the summary
    # and lxml's bookkeeping; it was ≈ 5 KiB with a ZipInfo and a name per entry
    assert large - small < 256 * 1800, (small, large)
