"""Expected publication dates and irregularity deadlines."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from hws.domain.calendar_rules import add_months, expected_publication, regularization_deadline
from hws.domain.weeks import Schedule, Week

S = Schedule()


def test_add_months_clamps_to_month_end() -> None:
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_months(date(2023, 1, 31), 1) == date(2023, 2, 28)
    assert add_months(date(2026, 11, 30), 3) == date(2027, 2, 28)
    assert add_months(date(2026, 5, 15), 30) == date(2028, 11, 15)


def test_standard_is_twelve_months_after_registration() -> None:
    got = expected_publication(registration_date=date(2026, 11, 18), schedule=S)
    assert Week.of(got) == Week.of(date(2027, 11, 18)) and got.isoweekday() == 5


def test_immediate_is_the_next_issue() -> None:
    assert expected_publication(registration_date=date(2026, 11, 18), schedule=S, immediate=True) == date(2026, 11, 20)
    assert expected_publication(registration_date=date(2026, 11, 20), schedule=S, immediate=True) == date(2026, 11, 27)


def test_deferment_capped_at_30_months_from_filing_or_priority() -> None:
    asked = expected_publication(
        registration_date=date(2026, 11, 18), schedule=S, deferment_months=12, filing_or_priority_date=date(2026, 6, 1)
    )
    assert Week.of(asked) == Week.of(date(2027, 6, 1))
    capped = expected_publication(
        registration_date=date(2026, 11, 18), schedule=S, deferment_months=40, filing_or_priority_date=date(2026, 6, 1)
    )
    assert Week.of(capped) == Week.of(date(2028, 12, 1))


def test_deferment_already_over_publishes_next() -> None:
    got = expected_publication(
        registration_date=date(2026, 11, 18), schedule=S, deferment_months=1, filing_or_priority_date=date(2024, 1, 1)
    )
    assert got == date(2026, 11, 20)


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 1, 1)), st.integers(0, 60), st.integers(0, 40))
def test_deferment_never_exceeds_the_cap(filed: date, months: int, registered_after: int) -> None:
    registered = add_months(filed, registered_after)
    got = expected_publication(registration_date=registered, schedule=S, deferment_months=months, filing_or_priority_date=filed)
    assert got.isoweekday() == 5
    target = add_months(filed, min(months, 30))
    if target > registered:
        assert Week.of(got) == Week.of(target) and Week.of(got) <= Week.of(add_months(filed, 30))
    else:
        assert registered < got <= registered + timedelta(days=7)


def test_regularization_deadlines() -> None:
    assert regularization_deadline(date(2026, 11, 21), fee_shortfall=False) == date(2027, 2, 21)
    assert regularization_deadline(date(2026, 11, 21), fee_shortfall=True) == date(2027, 1, 21)
