"""The dashboard: what the International Bureau's day looks like at a glance — today's
imports, the job queue, service requests by status, and the next publication with what it
will hold (read through :class:`~hws.usecases.publishing.Publisher`, the same query that
builds the issue)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from hws.console.access import service, viewing
from hws.console.templating import render
from hws.domain.operator_roles import Role
from hws.domain.weeks import Week
from hws.service import Service
from hws.store import imports as import_store
from hws.store import service_requests as sr_store
from hws.usecases.operator_accounts import SignedIn
from hws.usecases.publishing import Publisher

router = APIRouter()

#: IRNs of the next issue named on the dashboard (the count covers them all)
SAMPLE = 5
#: due weeks counted one by one on the dashboard (a publisher far behind is summed up)
OVERDUE_SHOWN = 8


@dataclass(frozen=True)
class NextIssue:
    week: Week
    publication_date: date
    moment: datetime
    #: weeks whose moment has passed and that are not published yet (the scheduler's next
    #: run publishes them), each with the registrations its bulletin will hold
    overdue: list[tuple[Week, int]]
    overdue_total: int
    registrations: int
    sample: list[str]
    decisions: int


@dataclass(frozen=True)
class Queue:
    pending: dict[str, int]
    leased: dict[str, int]
    dead: dict[str, int]
    oldest_pending_seconds: float | None


def next_issue(svc: Service) -> NextIssue:
    """The next week to be published — the oldest due one if the publisher is behind, else
    the next scheduled — and what the publisher would put in its bulletin today."""
    publisher = Publisher(svc)
    now = svc.calendar.now()
    due = publisher.due(now)
    week = due[0] if due else publisher.schedule.next_after(now)
    inputs = publisher.inputs(week)
    registrations = iter(inputs.registrations)
    try:
        sample = [r.irn for r in itertools.islice(registrations, SAMPLE)]
    finally:
        close = getattr(registrations, "close", None)
        if close is not None:
            close()  # the rest is not read: release the streaming query's connection now
    return NextIssue(
        week=week,
        publication_date=publisher.schedule.publication_date(week),
        moment=publisher.schedule.moment(week),
        overdue=[(w, len(publisher.inputs(w).registrations)) for w in due[:OVERDUE_SHOWN]],  # type: ignore[arg-type]
        overdue_total=len(due),
        registrations=len(inputs.registrations),  # type: ignore[arg-type]
        sample=sample,
        decisions=len(inputs.decisions),
    )


def queue(svc: Service) -> Queue:
    backlog = svc.jobs.backlog()
    by_state: dict[str, dict[str, int]] = {"pending": {}, "leased": {}, "dead": {}}
    for (kind, state), count in sorted(backlog.counts.items()):
        by_state[state][kind] = count
    waits = backlog.oldest_pending_seconds.values()
    return Queue(by_state["pending"], by_state["leased"], by_state["dead"], max(waits) if waits else None)


def today_bounds(svc: Service) -> tuple[date, datetime, datetime]:
    """Today on the service's calendar (UTC, as the console shows times) and its bounds."""
    today = svc.calendar.now().astimezone(UTC).date()
    start = datetime.combine(today, time(0), tzinfo=UTC)
    return today, start, start + timedelta(days=1)


def age(seconds: float | None) -> str:
    """``3 h 12 min``, ``45 s``: how long the oldest pending job has waited."""
    if seconds is None:
        return "—"
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


def gather(svc: Service) -> dict[str, Any]:
    today, start, end = today_bounds(svc)
    return {
        "today": today,
        "outcomes": import_store.outcomes(svc.engine, since=start, until=end),
        "pending_imports": import_store.pending_count(svc.engine),
        "queue": queue(svc),
        "by_status": sr_store.count_by_status(svc.engine),
        "next": next_issue(svc),
        "schedule": svc.settings.schedule,
    }


@router.get("/")
async def dashboard(request: Request, operator: SignedIn = Depends(viewing(Role.VIEWER))) -> Response:
    context = await run_in_threadpool(gather, service(request))
    return render(request, "dashboard.html", age=age, IMPORTED=import_store.IMPORTED, REJECTED=import_store.REJECTED, **context)
