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


# The deferment rule: one function for the expected publication date and the expiry date


def test_deferment_expiry_in_each_unit() -> None:
    from hws.domain.calendar_rules import deferment_expiry

    base = date(2026, 6, 1)
    assert deferment_expiry(base, 15, "In day") == date(2026, 6, 16)
    assert deferment_expiry(base, 3, "In week") == date(2026, 6, 22)
    assert deferment_expiry(base, 18, "In month") == date(2027, 12, 1)
    assert deferment_expiry(base, 18, None) == date(2027, 12, 1)  # months when the unit is absent
    assert deferment_expiry(base, 2, "In year") == date(2028, 6, 1)
    assert deferment_expiry(base, None, "In month") == date(2028, 12, 1)  # no period: the 30-month maximum
    assert deferment_expiry(base, 40, "In month") == date(2028, 12, 1)  # capped
    assert deferment_expiry(base, 3, "In year") == date(2028, 12, 1)  # capped
    assert deferment_expiry(base, 1000, "In day") == date(2028, 12, 1)  # capped


def test_a_deferment_in_days_is_not_taken_for_months() -> None:
    """Examination once read any unit but "year" as months: 15 days gave 15 months."""
    from hws.domain.calendar_rules import deferment_expiry

    got = expected_publication(
        registration_date=date(2026, 11, 18), schedule=S, deferment_until=deferment_expiry(date(2026, 11, 2), 30, "In day")
    )
    assert Week.of(got) == Week.of(date(2026, 12, 2))


@given(
    st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 1, 1)),
    st.one_of(st.none(), st.integers(0, 2000)),
    st.sampled_from(["In day", "In week", "In month", "In year", None]),
)
def test_deferment_expiry_never_passes_30_months(base: date, period: int | None, unit: str | None) -> None:
    from hws.domain.calendar_rules import deferment_expiry

    end = deferment_expiry(base, period, unit)
    assert base <= end <= add_months(base, 30)


def test_deferment_end_counts_from_the_earliest_of_filing_and_priorities() -> None:
    from hws.domain.calendar_rules import deferment_end

    filing = date(2026, 6, 1)
    assert deferment_end(filing=filing, priority_dates=[], period=15, unit="In day") == date(2026, 6, 16)
    earlier = date(2026, 1, 10)  # a priority before the filing is the base
    assert deferment_end(filing=filing, priority_dates=[date(2026, 3, 1), earlier], period=18, unit="In month") == date(
        2027, 7, 10
    )
    assert deferment_end(filing=filing, priority_dates=[date(2026, 7, 1)], period=2, unit="In year") == date(2028, 6, 1)
    assert deferment_end(filing=filing, priority_dates=[earlier], period=None, unit=None) == date(2028, 7, 10)  # 30 months
    assert deferment_end(filing=filing, priority_dates=[earlier], period=5, unit="In year") == date(2028, 7, 10)  # capped
