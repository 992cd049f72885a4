"""ISO week ids and the weekly publication moment."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hws.domain.weeks import InvalidWeek, Schedule, Week, weeks_between, weeks_in_year


@pytest.mark.parametrize("text", ["202601", "202014", "202053", "202653", "201552"])
def test_valid_week_ids(text: str) -> None:
    assert Week.parse(text).id == text


@pytest.mark.parametrize("text", ["202153", "202553", "202600", "202654", "2026-14", "20261", "2026140", "abcdef", "", "000001"])
def test_invalid_week_ids(text: str) -> None:
    with pytest.raises(InvalidWeek):
        Week.parse(text)


def test_years_with_53_weeks() -> None:
    assert [y for y in range(2015, 2033) if weeks_in_year(y) == 53] == [2015, 2020, 2026, 2032]


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(9998, 12, 1)))
def test_week_of_a_day_round_trips(day: date) -> None:
    week = Week.of(day)
    assert week.contains(day)
    assert Week.parse(week.id) == week
    assert week.next().previous() == week
    assert week.next().monday - week.monday == timedelta(days=7)


def test_default_schedule_is_friday_noon_zurich() -> None:
    s = Schedule()
    week = Week.parse("202614")
    assert s.publication_date(week) == date(2026, 4, 3)
    assert s.moment(week) == datetime(2026, 4, 3, 10, 0, tzinfo=UTC)  # CEST
    assert s.moment(Week.parse("202602")) == datetime(2026, 1, 9, 11, 0, tzinfo=UTC)  # CET
    assert s.latest_due(datetime(2026, 4, 3, 9, 59, tzinfo=UTC)).id == "202613"
    assert s.latest_due(datetime(2026, 4, 3, 10, 0, tzinfo=UTC)).id == "202614"
    assert s.next_after(datetime(2026, 4, 3, 10, 0, tzinfo=UTC)).id == "202615"


def test_configurable_schedule() -> None:
    s = Schedule(weekday=5, at=time(23, 0), zone="UTC")
    assert s.moment(Week.parse("202614")) == datetime(2026, 4, 3, 23, 0, tzinfo=UTC)


def test_weeks_between_crosses_years() -> None:
    ids = [w.id for w in weeks_between(Week.parse("202652"), Week.parse("202702"))]
    assert ids == ["202652", "202653", "202701", "202702"]
