"""Who may send a decision about a registration (hws.domain.designations)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hws.domain.designations import (
    DESIGNATED_OFFICE_KINDS,
    FILING_OFFICE_KINDS,
    NOT_DESIGNATED,
    check_decision_sender,
)

KINDS = sorted(DESIGNATED_OFFICE_KINDS | FILING_OFFICE_KINDS)
OFFICE = st.sampled_from(["KR", "US", "CH", "JP", "EM", "kr", " us "])


@pytest.mark.parametrize("kind", KINDS)
def test_a_designated_office_may_send_every_kind(kind: str) -> None:
    assert check_decision_sender(kind, "US", irn="DM/200001", designated=["US", "CH"], filing_office="KR") is None


@pytest.mark.parametrize("kind", sorted(DESIGNATED_OFFICE_KINDS))
def test_the_filing_office_may_not_send_a_decision(kind: str) -> None:
    refused = check_decision_sender(kind, "KR", irn="DM/200001", designated=["US", "CH"], filing_office="KR")
    assert refused is not None and refused.code == NOT_DESIGNATED
    assert refused.message == (
        "KR filed DM/200001 but is not designated by it (it designates CH, US): as the office of filing "
        f"it may send only HagueGenericOfficeCommunication about it, not {kind}"
    )


def test_the_filing_office_may_send_a_generic_communication() -> None:
    assert (
        check_decision_sender("HagueGenericOfficeCommunication", "KR", irn="DM/200001", designated=["US"], filing_office="KR")
        is None
    )


@pytest.mark.parametrize("kind", KINDS)
def test_any_other_office_is_refused(kind: str) -> None:
    refused = check_decision_sender(kind, "JP", irn="DM/200001", designated=["US", "CH"], filing_office="KR")
    assert refused is not None and refused.code == NOT_DESIGNATED
    assert refused.message.startswith("DM/200001 does not designate JP (it designates CH, US)")


def test_a_registration_designating_nobody_names_it() -> None:
    refused = check_decision_sender("HagueRefusalRequest", "JP", irn="DM/200009", designated=[], filing_office=None)
    assert refused is not None and "(it designates no Contracting Party)" in refused.message


@given(
    kind=st.sampled_from(KINDS),
    sender=OFFICE,
    designated=st.lists(OFFICE, max_size=4),
    filing=st.one_of(st.none(), OFFICE),
)
def test_the_rule(kind: str, sender: str, designated: list[str], filing: str | None) -> None:
    """Allowed exactly when the sender is designated, or files and sends a generic
    communication; office codes compare without case or surrounding blanks."""
    norm = sender.strip().upper()
    expected = norm in {d.strip().upper() for d in designated} or (
        norm == (filing or "").strip().upper() and kind in FILING_OFFICE_KINDS
    )
    refused = check_decision_sender(kind, sender, irn="DM/200001", designated=designated, filing_office=filing)
    assert (refused is None) == expected
    if refused is not None:
        assert refused.code == NOT_DESIGNATED and norm in refused.message and kind in refused.message
