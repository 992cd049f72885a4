"""The named checks of :mod:`hws.st96.rules` used on their own, their pure helpers, and the
shared namespace helpers (:mod:`hws.st96.namespaces`)."""

from __future__ import annotations

import io
import re
import zipfile

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from hws.domain.identifiers import is_irn
from hws.st96.builder import build_package
from hws.st96.examples import example_package, example_spec
from hws.st96.namespaces import COM, DGN, clark, com, dgn
from hws.st96.package import validate_package
from hws.st96.rules.context import RuleContext, reference_escapes
from hws.st96.rules.references import check_references
from hws.st96.rules.root import check_root
from hws.st96.transactions import TransactionKind as K
from tests.st96.repack import find, with_tree

_SAFE_SEGMENT = st.from_regex(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,11}", fullmatch=True).filter(lambda s: s != "..")
_LOCAL = st.from_regex(r"[A-Za-z][A-Za-z0-9]{0,15}", fullmatch=True)


@given(st.lists(_SAFE_SEGMENT, min_size=1, max_size=4))
def test_a_relative_path_of_plain_segments_stays_inside(segments: list[str]) -> None:
    assert not reference_escapes("/".join(segments))


@given(
    st.lists(_SAFE_SEGMENT, max_size=3),
    st.sampled_from(["..", "http://x", "file://x", "x\\y", "x\x00y"]),
    st.lists(_SAFE_SEGMENT, max_size=3),
)
def test_a_path_that_leaves_the_package_is_refused(before: list[str], bad: str, after: list[str]) -> None:
    ref = "/".join([*before, bad, *after])
    assert reference_escapes(ref), ref


@given(st.sampled_from(["/", "\\", "C:", "c:/", "Z:\\"]), st.lists(_SAFE_SEGMENT, min_size=1, max_size=3))
def test_an_absolute_or_drive_path_is_refused(start: str, segments: list[str]) -> None:
    assert reference_escapes(start + "/".join(segments))


@given(_LOCAL)
def test_the_namespace_helpers_agree(local: str) -> None:
    assert com(local) == clark(f"com:{local}") == f"{{{COM}}}{local}" == etree.QName(COM, local).text
    assert dgn(local) == clark(f"dgn:{local}") == f"{{{DGN}}}{local}"


@given(st.text(alphabet="DM/0123456789 \n", max_size=12))
def test_the_irn_rule_is_the_old_pattern_for_ascii_text(text: str) -> None:
    """The decision check reads the IRN stripped; on ASCII text the domain rule is the old ``^DM/\\d{6}$``."""
    stripped = text.strip()
    assert is_irn(stripped) == bool(re.match(r"^DM/\d{6}$", stripped))


@pytest.mark.parametrize("irn", ["DM/" + "123456".translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")), "DM/12345６"])
def test_an_irn_in_other_digits_is_invalid(irn: str) -> None:
    report = validate_package(build_package(example_spec(K.REFUSAL, irn=irn), fill_missing=True))
    assert "irn-invalid" in report.codes and report.content is None


def _context(package: bytes) -> RuleContext:
    with zipfile.ZipFile(io.BytesIO(package)) as zf:
        files = {name: zf.read(name) for name in zf.namelist()}
    entry = next(name for name in files if name.endswith(".xml"))
    tree = etree.ElementTree(etree.fromstring(files[entry]))
    return RuleContext(tree, entry, files, {}, [])


def test_the_checks_run_on_their_own() -> None:
    ctx = _context(example_package())
    assert check_root(ctx) and ctx.version == "V6_0" and ctx.problems == []
    refs = check_references(ctx)
    assert "docs/dm1.pdf" in refs and ctx.problems == []


def test_a_check_reports_through_the_context() -> None:
    package = with_tree(example_package(), lambda root: find(root, "//com:FileName").__setattr__("text", "../up.jpg"))
    ctx = _context(package)
    check_root(ctx)
    check_references(ctx)
    escapes = [p for p in ctx.problems if p.code == "reference-escapes"]
    assert escapes and escapes[0].where.entry == ctx.entry and escapes[0].where.path and escapes[0].where.line


def test_a_malformed_priority_date_does_not_raise() -> None:
    """validate_package never raises for bad input: reading a design's priorities at import
    (parse-once) used date.fromisoformat on the raw text and raised ValueError instead."""
    package = with_tree(
        example_package(),
        lambda root: find(root, "//dgn:Priority/com:PriorityApplicationFilingDate").__setattr__("text", "not-a-date"),
    )
    report = validate_package(package)
    assert report.content is None or all(
        p.filing_date is not None for design in report.content.designs for p in design.priorities
    )
