"""The audit log: filtered (actor, action with ``*`` wildcards, office, target, days),
newest first, a page at a time (:func:`hws.store.audit.query`, paged by event id), and
the same filters exported as CSV — cells a spreadsheet would read as a formula are
neutralised."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from hws.api.security import source_of
from hws.console.access import service, viewing
from hws.console.templating import render
from hws.domain.operator_roles import Role
from hws.store import audit as audit_store
from hws.usecases.operator_accounts import SignedIn

router = APIRouter()

PER_PAGE = 100
#: events read per round trip while exporting
EXPORT_BATCH = 1000
COLUMNS = ("id", "at", "actor", "office", "action", "target", "outcome", "source", "detail")
_FIELD_MAX = 100
#: what a spreadsheet takes as the start of a formula (OWASP's CSV injection list)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Filters:
    actor: str | None = None
    action: str | None = None
    office: str | None = None
    target: str | None = None
    since: date | None = None
    until: date | None = None
    before: int | None = None

    def query(self) -> dict[str, Any]:
        """The arguments of :func:`hws.store.audit.query` (``until`` is the whole last day)."""
        return {
            "actor": self.actor,
            "action": self.action,
            "office": self.office,
            "target": self.target,
            "since": datetime.combine(self.since, time.min, UTC) if self.since else None,
            "until": datetime.combine(self.until + timedelta(days=1), time.min, UTC) if self.until else None,
            "before": self.before,
        }


def _text(request: Request, name: str) -> str | None:
    value = (request.query_params.get(name) or "").strip()
    return value[:_FIELD_MAX] or None


def filters_of(request: Request) -> tuple[Filters, list[str]]:
    """The filters of the query string, and what is wrong with them."""
    problems: list[str] = []
    days: dict[str, date | None] = {}
    for name, label in (("since", "From"), ("until", "Until")):
        value = _text(request, name)
        try:
            days[name] = date.fromisoformat(value) if value else None
        except ValueError:
            problems.append(f"{label}: {value!r} is not a date (yyyy-mm-dd)")
            days[name] = None
    if days["since"] and days["until"] and days["until"] < days["since"]:
        problems.append("Until: the last day comes before the first")
    before = _text(request, "before")
    office = _text(request, "office")
    filters = Filters(
        actor=_text(request, "actor"),
        action=_text(request, "action"),
        office=office.upper() if office else None,
        target=_text(request, "target"),
        since=days["since"],
        until=days["until"],
        before=int(before) if before and before.isdigit() and len(before) < 19 else None,
    )
    return filters, problems


def _shown(event: dict[str, Any]) -> dict[str, Any]:
    """An event as the table shows it: the time to the second, the detail as JSON."""
    at = datetime.fromisoformat(event["at"])
    return {
        **event,
        "at_text": (at if at.tzinfo is None else at.astimezone(UTC)).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "detail_text": json.dumps(event["detail"], sort_keys=True) if event["detail"] else "",
    }


@router.get("/audit")
async def audit_log(request: Request, operator: SignedIn = Depends(viewing(Role.VIEWER))) -> Response:
    filters, problems = filters_of(request)
    events: list[dict[str, Any]] = []
    more = False
    if not problems:
        found = await run_in_threadpool(audit_store.query, service(request).engine, limit=PER_PAGE + 1, **filters.query())
        more = len(found) > PER_PAGE
        events = [_shown(e) for e in found[:PER_PAGE]]
    return render(
        request,
        "audit/list.html",
        status_code=422 if problems else 200,
        filters=filters,
        problems=problems,
        events=events,
        older=events[-1]["id"] if more else None,
    )


def neutralise(value: object) -> str:
    """A cell as text; one a spreadsheet would run as a formula gets a leading ``'``."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _row(event: dict[str, Any]) -> list[str]:
    detail = json.dumps(event["detail"], sort_keys=True) if event["detail"] else ""
    return [neutralise(v) for v in (*(event[c] for c in COLUMNS[:-1]), detail)]


def export(engine: Any, filters: Filters) -> Iterator[str]:
    """The matching events as CSV lines, newest first, read ``EXPORT_BATCH`` at a time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def take() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(COLUMNS)
    yield take()
    while True:
        batch = audit_store.query(engine, limit=EXPORT_BATCH, **filters.query())
        for event in batch:
            writer.writerow(_row(event))
        if batch:
            yield take()
        if len(batch) < EXPORT_BATCH:
            return
        filters = replace(filters, before=batch[-1]["id"])


@router.get("/audit.csv")
async def audit_csv(request: Request, operator: SignedIn = Depends(viewing(Role.VIEWER))) -> Response:
    filters, problems = filters_of(request)
    if problems:
        return Response("; ".join(problems), status_code=422, media_type="text/plain")
    svc = service(request)
    stamp = svc.clock.now().strftime("%Y%m%dT%H%M%SZ")
    svc.audit.log(
        operator.actor, "audit.exported", target=None, source=source_of(request),
        detail={k: str(v) for k, v in filters.query().items() if v is not None},
    )  # fmt: skip
    return StreamingResponse(
        export(svc.engine, filters),  # a plain iterator: Starlette reads it in the thread pool
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="audit-{stamp}.csv"', "Cache-Control": "no-store"},
    )
