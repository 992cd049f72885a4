"""Week ids, SRNs, IRNs and import ids are ASCII only, the whole string.

Python's ``\\d`` and ``int()`` take the digits of every script (``٢٠٢٦٤٩`` is 202649 to
them) and ``$`` matches before a trailing newline: neither may let a spelling other than
the one ASCII form through.
"""

from __future__ import annotations

import re

import pytest

from hws.domain.identifiers import (
    IMPORT_ID_PATTERN,
    SRN_PATTERN,
    format_srn,
    is_import_id,
    is_irn,
    is_srn,
    new_import_id,
)
from hws.domain.weeks import WEEK_ID_PATTERN, InvalidWeek, Week

ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
DEVANAGARI = str.maketrans("0123456789", "०१२३४५६७८९")
SCRIPTS = [ARABIC_INDIC, FULLWIDTH, DEVANAGARI]


@pytest.mark.parametrize("table", SCRIPTS)
def test_a_week_id_in_other_digits_is_refused(table) -> None:  # type: ignore[no-untyped-def]
    assert Week.parse("202649") == Week(2026, 49)
    with pytest.raises(InvalidWeek):
        Week.parse("202649".translate(table))


@pytest.mark.parametrize("text", ["2026٤٩", "202649\n", "202649 ", " 202649", "+20264", "2026_4", "2026-49", ""])
def test_a_week_id_with_anything_but_six_ascii_digits_is_refused(text: str) -> None:
    with pytest.raises(InvalidWeek):
        Week.parse(text)


def test_week_parse_refuses_none() -> None:
    with pytest.raises(InvalidWeek):
        Week.parse(None)  # type: ignore[arg-type]


@pytest.mark.parametrize("table", SCRIPTS)
def test_srn_and_irn_are_ascii_digits(table) -> None:  # type: ignore[no-untyped-def]
    assert is_srn("970000001") and is_irn("DM/200001")
    assert not is_srn("970000001".translate(table))
    assert not is_srn("970" + "000001".translate(table))
    assert not is_irn("DM/" + "200001".translate(table))


@pytest.mark.parametrize("text", ["970000001\n", "9700000011", "97000001", " 970000001"])
def test_srn_is_the_whole_string(text: str) -> None:
    assert not is_srn(text)


def test_import_ids_are_ascii_and_whole() -> None:
    import_id = new_import_id(1_700_000_000_000)
    assert is_import_id(import_id)
    assert not is_import_id(import_id + "\n")
    assert not is_import_id(import_id[:-1] + "١")
    assert not is_import_id(import_id[:-1] + "Ｚ")


def test_format_srn_still_formats() -> None:
    assert format_srn(970000001) == "970000001"
    with pytest.raises(ValueError):
        format_srn(971000000)


def test_the_openapi_patterns_agree_with_the_checks() -> None:
    for pattern in (WEEK_ID_PATTERN, SRN_PATTERN, IMPORT_ID_PATTERN):
        assert "\\d" not in pattern and pattern.startswith("^") and pattern.endswith("$")
    assert re.search(WEEK_ID_PATTERN, "202649") and not re.search(WEEK_ID_PATTERN, "202654")
    assert not re.search(WEEK_ID_PATTERN, "202600") and not re.search(WEEK_ID_PATTERN, "202649".translate(ARABIC_INDIC))
    assert re.search(SRN_PATTERN, "970000001") and not re.search(SRN_PATTERN, "970000001".translate(ARABIC_INDIC))
    assert re.search(IMPORT_ID_PATTERN, new_import_id(1_700_000_000_000))
