"""ISO weeks as HWS names them (``yyyyww``) and the weekly publication moment."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

#: ``yyyyww`` in ASCII digits only (``\d`` and ``int()`` would take any script's digits,
#: and ``$`` a trailing newline); also the OpenAPI ``pattern`` of week path parameters
WEEK_ID_PATTERN = r"^[0-9]{4}(0[1-9]|[1-4][0-9]|5[0-3])$"
_WEEK_ID = re.compile(r"([0-9]{4})([0-9]{2})", re.ASCII)


class InvalidWeek(ValueError):
    """Not a week id ``yyyyww`` of an existing ISO week."""


def weeks_in_year(year: int) -> int:
    """52 or 53: ISO years have 53 weeks when 28 December falls in week 53."""
    return date(year, 12, 28).isocalendar().week


@dataclass(frozen=True, order=True)
class Week:
    year: int
    number: int

    def __post_init__(self) -> None:
        if not 1 <= self.year <= 9999 or not 1 <= self.number <= weeks_in_year(self.year):
            raise InvalidWeek(f"{self.year} has no ISO week {self.number}")

    @classmethod
    def parse(cls, text: str) -> Week:
        match = _WEEK_ID.fullmatch(text) if isinstance(text, str) else None
        if not match:
            raise InvalidWeek(f"week id must be yyyyww (e.g. 202614), got {text!r}")
        year, number = int(match.group(1)), int(match.group(2))
        if year < 1 or not 1 <= number <= 53 or number > weeks_in_year(year):
            raise InvalidWeek(f"{text}: {year} has weeks 01 to {weeks_in_year(max(year, 1)):02d}")
        return cls(year, number)

    @classmethod
    def of(cls, day: date) -> Week:
        iso = day.isocalendar()
        return cls(iso.year, iso.week)

    @property
    def id(self) -> str:
        return f"{self.year:04d}{self.number:02d}"

    @property
    def bulletin_number(self) -> str:
        return f"{self.year:04d}/{self.number:02d}"

    def day(self, weekday: int) -> date:
        """The date of ISO ``weekday`` (1 = Monday … 7 = Sunday) in this week."""
        return date.fromisocalendar(self.year, self.number, weekday)

    @property
    def monday(self) -> date:
        return self.day(1)

    @property
    def sunday(self) -> date:
        return self.day(7)

    def contains(self, day: date) -> bool:
        return self.monday <= day <= self.sunday

    def next(self) -> Week:
        return Week.of(self.monday + timedelta(days=7))

    def previous(self) -> Week:
        return Week.of(self.monday - timedelta(days=7))

    def __str__(self) -> str:
        return self.id


@dataclass(frozen=True)
class Schedule:
    """When each week's publication happens: a weekday and time in a time zone.

    Default Friday 12:00 Europe/Zurich (WIPO: "Fridays at noon (CET)").
    """

    weekday: int = 5
    at: time = time(12, 0)
    zone: str = "Europe/Zurich"

    def moment(self, week: Week) -> datetime:
        local = datetime.combine(week.day(self.weekday), self.at, tzinfo=ZoneInfo(self.zone))
        return local.astimezone(UTC)

    def publication_date(self, week: Week) -> date:
        return week.day(self.weekday)

    def latest_due(self, now: datetime) -> Week:
        """The newest week whose publication moment is at or before ``now``."""
        week = Week.of(now.astimezone(ZoneInfo(self.zone)).date())
        while self.moment(week) > now:
            week = week.previous()
        return week

    def next_after(self, now: datetime) -> Week:
        return self.latest_due(now).next()


def weeks_between(first: Week, last: Week) -> list[Week]:
    result = []
    week = first
    while week <= last:
        result.append(week)
        week = week.next()
    return result
