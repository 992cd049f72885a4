"""Rejected imports: packages the worker refused, newest first, each with every problem
the validator found (code, message, ZIP entry, XML path, line) as stored on the import;
and imports that failed — still pending because every attempt of their job failed."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from hws.console.access import service, viewing
from hws.console.templating import render
from hws.domain.offices import normalize_office_code
from hws.domain.operator_roles import Role
from hws.st96.problems import CODES
from hws.store import imports as imports_store
from hws.usecases.operator_accounts import SignedIn

router = APIRouter()

#: rejected imports per page
PAGE_SIZE = 50


def _day(value: str | None, label: str) -> date | None:
    if not value or not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"{label}: not a date (YYYY-MM-DD): {value.strip()!r}") from None


def _page_number(value: str | None) -> int:
    try:
        return max(1, int(value or 1))
    except ValueError:
        return 1


@router.get("/imports")
async def rejected_imports(
    request: Request,
    office: str | None = None,
    since: str | None = None,
    until: str | None = None,
    page: str | None = None,
    operator: SignedIn = Depends(viewing(Role.VIEWER)),
) -> Response:
    """Rejected imports, newest first; ``office`` and the days ``since``..``until``
    (inclusive, by the day they were rejected) narrow the list."""
    number = _page_number(page)
    filters = {"office": (office or "").strip(), "since": (since or "").strip(), "until": (until or "").strip()}
    errors: list[str] = []
    code: str | None = None
    if filters["office"]:
        try:
            code = normalize_office_code(filters["office"])
        except ValueError as exc:
            errors.append(str(exc))
    first = last = None
    try:
        first = _day(since, "Rejected from")
    except ValueError as exc:
        errors.append(str(exc))
    try:
        last = _day(until, "Rejected until")
    except ValueError as exc:
        errors.append(str(exc))
    if first and last and last < first:
        errors.append("Rejected until: the last day comes before the first")

    records: list[imports_store.ImportRecord] = []
    failed: list[imports_store.FailedImport] = []
    total = 0
    if not errors:
        window: dict[str, Any] = {
            "office": code,
            "since": datetime.combine(first, time.min, UTC) if first else None,
            "until": datetime.combine(last + timedelta(days=1), time.min, UTC) if last else None,
        }
        records, total = await run_in_threadpool(
            lambda: imports_store.finished(
                service(request).engine,
                status=imports_store.REJECTED,
                limit=PAGE_SIZE,
                offset=(number - 1) * PAGE_SIZE,
                **window,
            )
        )
        failed = await run_in_threadpool(lambda: imports_store.failed(service(request).engine, office=code))
    pages = max(1, -(-total // PAGE_SIZE))
    return render(
        request,
        "imports/list.html",
        status_code=422 if errors else 200,
        imports=records,
        failed=failed,
        total=total,
        page=number,
        pages=pages,
        filters=filters,
        errors=errors,
    )


@router.get("/imports/{import_id}")
async def import_detail(request: Request, import_id: str, operator: SignedIn = Depends(viewing(Role.VIEWER))) -> Response:
    engine = service(request).engine
    record = await run_in_threadpool(imports_store.get, engine, import_id)
    if record is None:
        return render(request, "imports/not_found.html", status_code=404, import_id=import_id)
    failure = None
    if record.status == imports_store.PENDING:
        found = await run_in_threadpool(lambda: imports_store.failed(engine, import_id=import_id, limit=1))
        failure = found[0] if found else None
    return render(request, "imports/detail.html", record=record, failure=failure, meanings=CODES)
