"""Where each file of an issue goes in its ZIP: the XML entry names, the IRN folder, the
views named after their identifiers (made safe and unique), the decision documents beside
them, and the queue that hands the files over sorted by entry name."""

from __future__ import annotations

import hashlib
import re
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hws.domain.weeks import InvalidWeek
from hws.st96.publication.layout import (
    _Blob,
    _Blobs,
    _document_entry,
    _view_entries,
    bulletin_entry_name,
    confidential_copy_entry_name,
    irn_folder,
)
from hws.st96.publication.model import Decision, DecisionDocument, Design, PublicationError, Registration, View
from hws.st96.reading import Party

ENTRY = re.compile(r"images/DM[0-9]{6}/[A-Za-z0-9._~-]+")


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def view(identifier: str, media_type: str = "image/jpeg", file_name: str = "x.jpg") -> View:
    return View(identifier, None, file_name, sha(f"{identifier}:{file_name}"), media_type)


def registration(irn: str, *designs: tuple[str, list[View]]) -> Registration:
    return Registration(
        irn=irn,
        srn="970000001",
        registration_date=date(2026, 12, 31),
        filing_date=date(2026, 12, 28),
        expected_publication_date=date(2027, 12, 31),
        holders=(Party("ACME"),),
        designations=("US",),
        designs=tuple(Design(ident, "Chair", ("06-01",), tuple(views)) for ident, views in designs),
    )


def decision(irn: str, srn: str, doc_kind: str | None = "REFUSAL_DECISION", kind: str = "HagueRefusalRequest") -> Decision:
    document = DecisionDocument("refusal.pdf", sha(srn), "application/pdf", doc_kind)
    return Decision(irn=irn, srn=srn, kind=kind, office="us", recorded_date=date(2027, 1, 1), document=document)


def names(reg: Registration) -> dict[tuple[int, int], str]:
    return {key: blob.name for key, blob in _view_entries(reg).items()}


# ----------------------------------------------------------------------------- entry names


def test_the_irn_folder_drops_the_slash() -> None:
    assert irn_folder("DM/200000") == "DM200000"
    assert irn_folder("DM/000001") == "DM000001"


@pytest.mark.parametrize("irn", ["DM/20000", "DM/2000000", "dm/200000", "DM200000", "DM/20000a", "DM/２００000", "../x", ""])
def test_only_an_irn_makes_a_folder(irn: str) -> None:
    with pytest.raises(PublicationError, match="international registration number"):
        irn_folder(irn)


def test_the_xml_entry_names_carry_the_iso_week() -> None:
    assert bulletin_entry_name("202653") == "HagueBulletin_202653.xml"
    assert bulletin_entry_name("202701") == "HagueBulletin_202701.xml"
    assert confidential_copy_entry_name("202653", "us") == "HagueConfidentialCopy_US_202653.xml"
    assert confidential_copy_entry_name("202701", " em ") == "HagueConfidentialCopy_EM_202701.xml"


@pytest.mark.parametrize("week", ["202553", "202600", "202654", "2026-53", "26W53", ""])
def test_a_week_that_does_not_exist_has_no_entry_name(week: str) -> None:
    with pytest.raises(InvalidWeek):  # 2025 has 52 ISO weeks, 2026 has 53
        bulletin_entry_name(week)
    with pytest.raises(InvalidWeek):
        confidential_copy_entry_name(week, "US")


@pytest.mark.parametrize("office", ["", "U", "USA", "U1", "../", "ÜS"])
def test_a_confidential_copy_needs_a_two_letter_office(office: str) -> None:
    with pytest.raises(PublicationError, match="two letters"):
        confidential_copy_entry_name("202653", office)


# ----------------------------------------------------------------------------- views


def test_views_are_named_after_their_identifiers_in_the_irn_folder() -> None:
    reg = registration(
        "DM/200000",
        ("1", [view("1.1"), view("1.2", "image/png", "front.PNG")]),
        ("2", [view("2.1", "image/gif", "odd.GIF"), view("2.2", "application/octet-stream", "noext")]),
    )
    assert names(reg) == {
        (0, 0): "images/DM200000/1.1.jpg",
        (0, 1): "images/DM200000/1.2.png",
        (1, 0): "images/DM200000/2.1.gif",  # an unknown media type: the file's suffix, lower case
        (1, 1): "images/DM200000/2.2.bin",  # and without one: .bin
    }
    assert _view_entries(reg)[(0, 1)].sha256 == reg.designs[0].views[1].sha256


def test_the_media_type_decides_the_suffix_over_the_file_name() -> None:
    reg = registration("DM/200000", ("1", [view("1", "image/png", "photo.jpg")]))
    assert names(reg) == {(0, 0): "images/DM200000/1.png"}


def test_identifiers_are_made_safe_for_a_zip_entry() -> None:
    reg = registration(
        "DM/200000",
        ("1", [view("../../etc/passwd"), view(" view #3 (front) "), view("..."), view("é")]),
    )
    assert names(reg) == {
        (0, 0): "images/DM200000/etc_passwd.jpg",
        (0, 1): "images/DM200000/view_3_front.jpg",
        (0, 2): "images/DM200000/1.3.jpg",  # nothing left: design.view position
        (0, 3): "images/DM200000/1.4.jpg",
    }


def test_long_identifiers_are_cut_to_80_characters() -> None:
    reg = registration("DM/200000", ("1", [view("a" * 200)]))
    assert names(reg) == {(0, 0): f"images/DM200000/{'a' * 80}.jpg"}


def test_identifiers_repeated_across_designs_are_prefixed_by_the_design() -> None:
    reg = registration("DM/200000", ("1", [view("1"), view("2")]), ("2", [view("1")]))
    assert names(reg) == {
        (0, 0): "images/DM200000/1-1.jpg",
        (0, 1): "images/DM200000/1-2.jpg",  # every view is prefixed once one repeats
        (1, 0): "images/DM200000/2-1.jpg",
    }


def test_names_that_still_collide_get_a_counter() -> None:
    reg = registration("DM/200000", ("1", [view("a b"), view("a_b"), view("a/b")]))
    assert names(reg) == {
        (0, 0): "images/DM200000/1-a_b.jpg",
        (0, 1): "images/DM200000/1-a_b~2.jpg",
        (0, 2): "images/DM200000/1-a_b~3.jpg",
    }


identifiers = st.text(alphabet=st.sampled_from("ab1._-/ é~\\"), max_size=6)


@given(st.lists(st.lists(identifiers, min_size=1, max_size=4), min_size=1, max_size=4))
def test_any_identifiers_give_safe_unique_entries_in_the_folder(designs: list[list[str]]) -> None:
    reg = registration("DM/123456", *((str(i), [view(v) for v in views]) for i, views in enumerate(designs, start=1)))
    entries = _view_entries(reg)
    assert set(entries) == {(i, j) for i, views in enumerate(designs) for j in range(len(views))}
    found = [blob.name for blob in entries.values()]
    assert len(set(found)) == len(found)
    for name in found:
        assert ENTRY.fullmatch(name), name
        assert name.startswith("images/DM123456/") and name.count("/") == 2
        stem = name.rsplit("/", 1)[1]
        assert stem not in (".", "..") and not stem.startswith(".")


# ----------------------------------------------------------------------------- decision documents


def test_a_decision_document_is_named_by_kind_office_and_record() -> None:
    blob = _document_entry(decision("DM/200000", "970000010"))
    assert blob == _Blob("images/DM200000/REFUSAL_DECISION_US_970000010.pdf", sha("970000010"))


def test_without_a_document_kind_the_bulletin_element_or_the_kind_names_the_file() -> None:
    assert _document_entry(decision("DM/200000", "970000010", None)).name == (  # type: ignore[union-attr]
        "images/DM200000/HagueRefusal_US_970000010.pdf"
    )
    division = decision("DM/200000", "970000011", None, kind="HagueDivision")  # no bulletin category
    assert _document_entry(division).name == "images/DM200000/HagueDivision_US_970000011.pdf"  # type: ignore[union-attr]
    odd = decision("DM/200000", "../x", "REFUSAL DECISION/..")
    assert _document_entry(odd).name == "images/DM200000/REFUSAL_DECISION_US_x.pdf"  # type: ignore[union-attr]


def test_a_decision_without_a_document_has_no_entry() -> None:
    bare = Decision(irn="DM/200000", srn="970000010", kind="HagueRefusalRequest", office="US", recorded_date=date(2027, 1, 1))
    assert _document_entry(bare) is None


def test_a_decision_document_needs_a_two_letter_office() -> None:
    bad = Decision(
        irn="DM/200000",
        srn="1",
        kind="HagueRefusalRequest",
        office="USA",
        recorded_date=date(2027, 1, 1),
        document=DecisionDocument("r.pdf", sha("r"), "application/pdf"),
    )
    with pytest.raises(PublicationError, match="two letters"):
        _document_entry(bad)


# ----------------------------------------------------------------------------- the queue


def queue(documents: list[Decision], regs: list[Registration]) -> list[_Blob]:
    blobs = _Blobs(b for d in documents if (b := _document_entry(d)) is not None)
    try:
        for reg in regs:
            blobs.views(reg)
        return list(blobs)
    finally:
        blobs.close()


def test_views_and_documents_come_out_sorted_by_entry_name() -> None:
    regs = [
        registration("DM/200000", ("1", [view("z"), view("a")])),
        registration("DM/200002", ("1", [view("1.1")])),
    ]
    documents = [decision("DM/200003", "970000003"), decision("DM/200000", "970000001"), decision("DM/199999", "970000002")]
    assert [b.name for b in queue(documents, regs)] == [
        "images/DM199999/REFUSAL_DECISION_US_970000002.pdf",
        "images/DM200000/REFUSAL_DECISION_US_970000001.pdf",
        "images/DM200000/a.jpg",
        "images/DM200000/z.jpg",
        "images/DM200002/1.1.jpg",
        "images/DM200003/REFUSAL_DECISION_US_970000003.pdf",
    ]
    assert queue([], []) == []


def test_views_returns_the_entries_it_queued() -> None:
    reg = registration("DM/200000", ("1", [view("b"), view("a")]))
    blobs = _Blobs([])
    try:
        assert {k: b.name for k, b in blobs.views(reg).items()} == {
            (0, 0): "images/DM200000/b.jpg",
            (0, 1): "images/DM200000/a.jpg",
        }
        assert list(blobs) == sorted(_view_entries(reg).values(), key=lambda b: b.name)
    finally:
        blobs.close()


def test_two_documents_with_one_entry_name_are_refused() -> None:
    same = decision("DM/200000", "970000001")
    with pytest.raises(PublicationError, match="share the entry name"):
        queue([same, same], [])


def test_a_view_that_would_replace_a_document_is_refused() -> None:
    doc = decision("DM/200000", "970000001")
    clash = registration("DM/200000", ("1", [view("REFUSAL_DECISION_US_970000001", "application/pdf", "x.pdf")]))
    with pytest.raises(PublicationError, match=re.escape("REFUSAL_DECISION_US_970000001.pdf")):
        queue([doc], [clash])
    queue([doc], [registration("DM/200001", ("1", [view("REFUSAL_DECISION_US_970000001", "application/pdf")]))])


def test_registrations_out_of_irn_order_are_refused() -> None:
    regs = [registration("DM/200002", ("1", [view("1")])), registration("DM/200001", ("1", [view("1")]))]
    with pytest.raises(PublicationError, match="out of order"):
        queue([], regs)
    twice = registration("DM/200001", ("1", [view("1")]))
    with pytest.raises(PublicationError, match="out of order"):
        queue([], [twice, twice])


@given(
    st.lists(st.integers(1, 999_999), min_size=1, max_size=6, unique=True),
    st.lists(st.tuples(st.integers(1, 999_999), st.sampled_from(["REFUSAL_DECISION", "INVALIDATION", None])), max_size=5),
    st.lists(identifiers, min_size=1, max_size=3),
)
def test_any_irn_ordered_week_comes_out_strictly_sorted(
    irns: list[int], docs: list[tuple[int, str | None]], view_ids: list[str]
) -> None:
    regs = [registration(f"DM/{n:06d}", ("1", [view(v) for v in view_ids])) for n in sorted(irns)]
    documents = [decision(f"DM/{n:06d}", f"97{i:07d}", kind) for i, (n, kind) in enumerate(docs)]
    out = [b.name for b in queue(documents, regs)]
    assert out == sorted(set(out))
    assert len(out) == len(regs) * len(view_ids) + len(documents)
