"""Dates the Hague rules set: expected publication (Rules 16/17, simplified) and
irregularity deadlines (Rule 14)."""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from datetime import date, timedelta

from hws.domain.weeks import Schedule, Week

STANDARD_PUBLICATION_MONTHS = 12
MAX_DEFERMENT_MONTHS = 30
IRREGULARITY_MONTHS = 3
FEE_SHORTFALL_MONTHS = 2


def add_months(day: date, months: int) -> date:
    """Same day ``months`` later; the last day of the month when it has fewer days."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def deferment_expiry(base: date, period: int | None, unit: str | None = None) -> date:
    """When a requested deferment ends (Rule 16, simplified): ``period`` days, months or
    years from ``base`` (the filing date, or the earliest priority date), ``unit`` as ST.96
    writes it in ``com:periodCategory`` ("In week", "In month", "In year" in V6_0, and
    "In day"; months when absent); the 30-month maximum when no period is given, and never beyond it.

    The one rule for both the expected publication date (examination) and the deferment
    expiry date the bulletin and the confidential copies print."""
    cap = add_months(base, MAX_DEFERMENT_MONTHS)
    if period is None:
        return cap
    kind = (unit or "").lower()
    if "day" in kind:
        target = base + timedelta(days=period)
    elif "week" in kind:
        target = base + timedelta(weeks=period)
    elif "year" in kind:
        target = add_months(base, period * 12)
    else:
        target = add_months(base, period)
    return min(target, cap)


def deferment_end(*, filing: date, priority_dates: Iterable[date], period: int | None, unit: str | None) -> date:
    """When a requested deferment ends: :func:`deferment_expiry` from the earliest of the
    filing date and the priority dates claimed (a priority earlier than the filing is the base)."""
    return deferment_expiry(min([filing, *priority_dates]), period, unit)


def expected_publication(
    *,
    registration_date: date,
    schedule: Schedule,
    immediate: bool = False,
    deferment_months: int | None = None,
    filing_or_priority_date: date | None = None,
    deferment_until: date | None = None,
) -> date:
    """The publication date of the weekly issue a registration will appear in.

    - immediate publication: the next weekly issue after registration;
    - deferment: until ``deferment_until`` (:func:`deferment_expiry`), or
      ``deferment_months`` from the filing (or priority) date, capped at 30 months from
      that date;
    - otherwise: 12 months after the registration date.
    The result is the publication day of the weekly issue: for immediate publication the
    first issue after the registration day; otherwise the issue of the week the target
    date falls in (never later than the target's week, so a deferment never exceeds its cap).
    """
    if immediate:
        week = Week.of(registration_date)
        if schedule.publication_date(week) <= registration_date:
            week = week.next()
        return schedule.publication_date(week)
    if deferment_months is not None and deferment_until is None:
        deferment_until = deferment_expiry(filing_or_priority_date or registration_date, deferment_months, "In month")
    if deferment_until is not None:
        target = deferment_until
        if target <= registration_date:  # deferment already over: the next issue
            return expected_publication(registration_date=registration_date, schedule=schedule, immediate=True)
    else:
        target = add_months(registration_date, STANDARD_PUBLICATION_MONTHS)
    return schedule.publication_date(Week.of(target))


def regularization_deadline(notified: date, *, fee_shortfall: bool) -> date:
    """Three months from the invitation; two when less than the basic fee was paid."""
    return add_months(notified, FEE_SHORTFALL_MONTHS if fee_shortfall else IRREGULARITY_MONTHS)
