"""Office codes are WIPO ST.3 codes: a State's ISO 3166 code or an organisation's."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hws.domain.offices import ORGANISATIONS, ST3_CODES, STATES, normalize_office_code


@pytest.mark.parametrize("code", ["KR", "us", " ch ", "EM", "WO", "IB", "OA", "BX", "AP"])
def test_known_codes_are_accepted_upper_case(code: str) -> None:
    assert normalize_office_code(code) == code.strip().upper()


@pytest.mark.parametrize("code", ["XX", "ZZ", "AA", "QQ", "UK", "EU"])
def test_codes_st3_does_not_give_an_office_are_refused(code: str) -> None:
    with pytest.raises(ValueError, match=f"{code} is not a WIPO ST.3 office code"):
        normalize_office_code(code)


@pytest.mark.parametrize("code", ["", "K", "KOR", "K1", "é1", "K R"])
def test_malformed_codes_are_refused(code: str) -> None:
    with pytest.raises(ValueError, match="two letters"):
        normalize_office_code(code)


def test_the_lists() -> None:
    assert len(STATES) == 249  # ISO 3166-1 alpha-2
    assert all(len(c) == 2 and c.isupper() for c in ST3_CODES)
    assert not STATES & ORGANISATIONS.keys()
    assert {"EM", "WO", "IB"} <= ST3_CODES and "XX" not in ST3_CODES


@given(st.text(alphabet=string.ascii_letters + " 1", max_size=4))
def test_a_code_is_either_accepted_as_listed_or_refused(code: str) -> None:
    try:
        value = normalize_office_code(code)
    except ValueError as exc:
        assert repr(code) in str(exc) or code.strip().upper() in str(exc)
    else:
        assert value in ST3_CODES
