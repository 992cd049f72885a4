"""Property tests: whatever the bytes, the validator returns a report and never raises."""

from __future__ import annotations

import io
import warnings
import zipfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hws.st96.examples import example_package
from hws.st96.package import ValidationReport, validate_package
from hws.st96.problems import CODES
from hws.st96.transactions import TransactionKind
from hws.st96.zipsafe import ZipLimits
from tests.st96.repack import entries, repack

VALID = {kind: example_package(kind) for kind in (TransactionKind.APPLICATION, TransactionKind.REFUSAL)}
LIMITS = ZipLimits(max_total_bytes=2_000_000, max_entry_bytes=1_000_000)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _check(report: ValidationReport) -> None:
    assert isinstance(report, ValidationReport)
    assert all(p.code in CODES and p.message for p in report.problems)
    assert (report.content is not None) == report.ok
    report.to_dict()  # serialisable


@SETTINGS
@given(st.binary(max_size=4096))
def test_arbitrary_bytes(data: bytes) -> None:
    _check(validate_package(data, office="KR", limits=LIMITS))


@SETTINGS
@given(
    kind=st.sampled_from(sorted(VALID)),
    flips=st.lists(st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=255)), max_size=8),
    cut=st.one_of(st.none(), st.integers(min_value=0)),
)
def test_mutated_valid_package(kind: TransactionKind, flips: list[tuple[int, int]], cut: int | None) -> None:
    data = bytearray(VALID[kind])
    for at, value in flips:
        data[at % len(data)] = value
    if cut is not None:
        data = data[: cut % (len(data) + 1)]
    _check(validate_package(bytes(data), office="KR", limits=LIMITS))


@SETTINGS
@given(
    at=st.integers(min_value=0),
    junk=st.binary(min_size=1, max_size=64) | st.sampled_from([b"<", b"&", b"]]>", b"<!DOCTYPE x>", b"\xff", b"\x00"]),
    delete=st.integers(min_value=0, max_value=40),
)
def test_mutated_xml_inside_a_valid_zip(at: int, junk: bytes, delete: int) -> None:
    pkg = VALID[TransactionKind.APPLICATION]
    name, xml = next((n, d) for n, d in entries(pkg) if n.endswith(".xml"))
    at %= len(xml)
    mutated = xml[:at] + junk + xml[at + delete :]
    _check(validate_package(repack(pkg, replace={name: mutated}), office="KR", limits=LIMITS))


@SETTINGS
@given(names=st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=5))
def test_arbitrary_entry_names(names: list[str]) -> None:
    out = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(out, "w") as zf:
        warnings.simplefilter("ignore")  # duplicate names are the point
        for name in names:
            try:
                zf.writestr(name, b"%PDF-1.4")
            except (ValueError, UnicodeEncodeError, IndexError):  # zipfile cannot write it
                pass
    _check(validate_package(out.getvalue(), limits=LIMITS))
