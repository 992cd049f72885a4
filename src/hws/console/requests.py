"""Service requests: the list (filters, search, pages), one request's page (its data,
history, files, XML, reproductions, problems, related requests) and the examiner's
actions on it, each carried out by :class:`hws.usecases.examination.Examiner`.

Reproductions are shown only as thumbnails drawn here (:mod:`hws.console.thumbnails`);
every file of the package can be downloaded as an attachment; the XML is printed as
escaped text (:mod:`hws.console.xml_view`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from hws.api.downloads import blob_response
from hws.api.security import source_of
from hws.console import thumbnails, xml_view
from hws.console.access import acting, redirect, service, viewing
from hws.console.templating import render
from hws.domain import lifecycle
from hws.domain.calendar_rules import regularization_deadline
from hws.domain.identifiers import is_srn
from hws.domain.lifecycle import Status
from hws.domain.operator_roles import Role
from hws.service import Service
from hws.st96.transactions import TransactionKind
from hws.store import imports as import_store
from hws.store import service_requests as sr_store
from hws.usecases.examination import ExaminationError, Examiner
from hws.usecases.operator_accounts import SignedIn

router = APIRouter()

PER_PAGE = 50
_OFFICE = re.compile(r"[A-Za-z]{2}", re.ASCII)
_SEARCH_MAX = 100

#: the types a file is downloaded as (anything else: application/octet-stream)
_DOWNLOAD_TYPES = frozenset({"application/pdf", "application/xml", "text/xml", "image/jpeg", "image/png"})

#: the examiner's actions: (form path, label, Examiner method, the move it makes)
ACTIONS = {
    "take-up": ("Take up", "take_up", (Status.UNDEFINED, Status.PROCESSING)),
    "irregularity": ("Notify an irregularity", "notify_irregularity", (Status.PROCESSING, Status.PENDING_REGULARIZATION)),
    "regularize": ("Regularize", "regularize", (Status.PENDING_REGULARIZATION, Status.PROCESSING)),
    "register": ("Register", "register", (Status.PROCESSING, Status.REGISTERED)),
    "cancel": ("Cancel", "cancel", (None, Status.CANCELLED)),
}


def actions_from(status: str) -> list[str]:
    """The actions the life cycle allows from ``status`` (:data:`lifecycle.ALLOWED`)."""
    current = Status(status)
    allowed = lifecycle.ALLOWED[current]
    return [
        name
        for name, (_label, _method, (source, target)) in ACTIONS.items()
        if target in allowed and (source is None or source == current)
    ]


# The list -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    status: str | None = None
    office: str | None = None
    transaction: str | None = None
    dated: str = "created"
    since: date | None = None
    until: date | None = None
    text: str | None = None
    page: int = 1


def _date(value: str | None, label: str, problems: list[str]) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        problems.append(f"{label} is not a date (YYYY-MM-DD): {value[:20]!r}")
        return None


def read_filters(params: Any) -> tuple[Filters, list[str]]:
    """The list's filters from the query string, and what was wrong with any (ignored)."""
    problems: list[str] = []
    status = params.get("status") or None
    if status is not None and status not in {s.value for s in Status}:
        problems.append(f"unknown status {status[:40]!r}")
        status = None
    office = (params.get("office") or "").strip().upper() or None
    if office is not None and not _OFFICE.fullmatch(office):
        problems.append(f"an office is two letters, not {office[:10]!r}")
        office = None
    transaction = params.get("transaction") or None
    if transaction is not None and transaction not in {t.value for t in TransactionKind}:
        problems.append(f"unknown transaction {transaction[:60]!r}")
        transaction = None
    dated = params.get("dated") or "created"
    if dated not in sr_store.DATE_FIELDS:
        problems.append(f"dates are {' or '.join(sr_store.DATE_FIELDS)}, not {dated[:20]!r}")
        dated = "created"
    since = _date(params.get("since"), "From", problems)
    until = _date(params.get("until"), "To", problems)
    text = (params.get("q") or "").strip()[:_SEARCH_MAX] or None
    try:
        page = max(1, min(int(params.get("page") or 1), 1_000_000))
    except ValueError:
        page = 1
    return Filters(status, office, transaction, dated, since, until, text, page), problems


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


@router.get("/requests")
async def list_requests(request: Request, operator: SignedIn = Depends(viewing(Role.VIEWER))) -> Response:
    filters, problems = read_filters(request.query_params)
    engine = service(request).engine

    def look() -> sr_store.SearchPage:
        return sr_store.search(
            engine,
            status=filters.status,
            office=filters.office,
            transaction=filters.transaction,
            dated=filters.dated,
            since=_midnight(filters.since) if filters.since else None,
            until=_midnight(filters.until + timedelta(days=1)) if filters.until else None,  # "to" includes that day
            text=filters.text,
            limit=PER_PAGE,
            offset=(filters.page - 1) * PER_PAGE,
        )

    found = await run_in_threadpool(look)
    pages = max(1, -(-found.total // PER_PAGE))
    first = (filters.page - 1) * PER_PAGE + 1 if found.items else 0
    return render(
        request,
        "requests/list.html",
        filters=filters,
        problems=problems,
        found=found,
        pages=pages,
        first=first,
        last=first + len(found.items) - 1 if found.items else 0,
        statuses=[s.value for s in Status],
        transactions=[t.value for t in TransactionKind],
        date_fields=sr_store.DATE_FIELDS,
    )


# One request ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NumberedFile:
    """A stored file with its number on the request's page (1, 2…, in path order)."""

    n: int
    file: sr_store.StoredFile

    @property
    def reproduction(self) -> bool:
        return self.file.kind == "REPRODUCTION" and thumbnails.is_reproduction(self.file.media_type)


def _read_blob(svc: Service, sha256: str) -> bytes:
    with svc.files.open(sha256) as handle:
        return handle.read()


def _details(svc: Service, srn: str) -> dict[str, Any] | None:
    """Everything a request's page shows (read in a worker thread)."""
    engine = svc.engine
    sr = sr_store.get(engine, srn)
    if sr is None:
        return None
    files = [NumberedFile(n, f) for n, f in enumerate(sr_store.files(engine, srn), start=1)]
    xml = next((f for f in files if f.file.kind == "ST96_XML"), None)
    if xml is None:
        view = xml_view.XmlView(None, "the package's XML is not among its stored files")
    elif xml.file.size > xml_view.MAX_BYTES:
        view = xml_view.too_large(xml.file.size)
    else:
        view = xml_view.pretty(_read_blob(svc, xml.file.sha256))
    today = svc.calendar.now().date()
    return {
        "sr": sr,
        "history": sr_store.history(engine, srn),
        "files": files,
        "xml_file": xml,
        "xml": view,
        "received": import_store.get(engine, sr.import_id),
        "related": sr_store.related(engine, sr),
        "recorded_against": sr_store.get(engine, sr.recorded_against) if sr.recorded_against else None,
        "target": sr_store.by_irn(engine, sr.target_irn) if sr.target_irn else None,
        "actions": actions_from(sr.status),
        "deadlines": {
            "normal": regularization_deadline(today, fee_shortfall=False),
            "shortfall": regularization_deadline(today, fee_shortfall=True),
        },
        "today": today,
    }


def _missing(request: Request, srn: str) -> Response:
    return render(request, "requests/missing.html", status_code=404, srn=srn)


async def _page(
    request: Request, operator: SignedIn, srn: str, *, error: str | None = None, form: dict[str, str] | None = None
) -> Response:
    details = await run_in_threadpool(_details, service(request), srn)
    if details is None:
        return _missing(request, srn)
    return render(
        request,
        "requests/detail.html",
        status_code=422 if error else 200,
        error=error,
        form=form or {},
        may_act=operator.role.allows(Role.EXAMINER),
        labels={name: label for name, (label, _m, _t) in ACTIONS.items()},
        **details,
    )


@router.get("/requests/{srn}")
async def show_request(request: Request, srn: str, operator: SignedIn = Depends(viewing(Role.VIEWER))) -> Response:
    if not is_srn(srn):
        return _missing(request, srn)
    return await _page(request, operator, srn)


async def _stored_file(request: Request, srn: str, n: int) -> sr_store.StoredFile | None:
    if not is_srn(srn) or n < 1:
        return None
    files = await run_in_threadpool(sr_store.files, service(request).engine, srn)
    return files[n - 1] if n <= len(files) else None


def _download_name(srn: str, path: str) -> str:
    base = path.rsplit("/", 1)[-1]
    return f"{srn}-" + (re.sub(r"[^A-Za-z0-9._-]", "_", base)[:100] or "file")


@router.get("/requests/{srn}/files/{n}")
async def download_file(request: Request, srn: str, n: int, operator: SignedIn = Depends(viewing(Role.VIEWER))) -> Response:
    """One file of the package, as an attachment (never shown in the page)."""
    stored = await _stored_file(request, srn, n)
    if stored is None:
        return _missing(request, srn)
    media_type = stored.media_type if stored.media_type in _DOWNLOAD_TYPES else "application/octet-stream"
    response = blob_response(
        request,
        service(request),
        sha256=stored.sha256,
        size=stored.size,
        filename=_download_name(srn, stored.path),
        media_type=media_type,
        open_file=service(request).files.open,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


async def _drawn(request: Request, srn: str, n: int, side: int) -> Response:
    stored = await _stored_file(request, srn, n)
    if stored is None or not thumbnails.is_reproduction(stored.media_type):
        return Response("No such reproduction.", status_code=404, media_type="text/plain")
    svc = service(request)

    def draw() -> thumbnails.Drawn:
        return thumbnails.thumbnail(_read_blob(svc, stored.sha256), stored.media_type, side=side)

    try:
        drawn = await run_in_threadpool(draw)
    except thumbnails.NotAnImage as exc:
        return Response(f"This file cannot be shown: it {exc}.", status_code=422, media_type="text/plain")
    return Response(
        drawn.png,
        media_type="image/png",
        headers={
            "X-Content-Type-Options": "nosniff",
            "Content-Disposition": f'inline; filename="{_download_name(srn, stored.path)}.png"',
            "Cache-Control": "private, max-age=3600",
        },
    )


@router.get("/requests/{srn}/files/{n}/thumbnail")
async def thumbnail(request: Request, srn: str, n: int, operator: SignedIn = Depends(viewing(Role.VIEWER))) -> Response:
    """A reproduction drawn again, small, as a PNG."""
    return await _drawn(request, srn, n, thumbnails.THUMBNAIL_SIDE)


@router.get("/requests/{srn}/files/{n}/preview")
async def preview(request: Request, srn: str, n: int, operator: SignedIn = Depends(viewing(Role.VIEWER))) -> Response:
    """A reproduction drawn again, large, as a PNG."""
    return await _drawn(request, srn, n, thumbnails.PREVIEW_SIDE)


# Actions -------------------------------------------------------------------------------------


def _text(form: Any, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


@router.post("/requests/{srn}/{action}")
async def act(request: Request, srn: str, action: str, operator: SignedIn = Depends(acting(Role.EXAMINER))) -> Response:
    """One of :data:`ACTIONS` on request ``srn``, as the signed-in operator, from their address."""
    if action not in ACTIONS or not is_srn(srn):
        return _missing(request, srn)
    form = await request.form()
    reason = _text(form, "reason")
    values = {"reason": reason, "action": action}
    kwargs: dict[str, Any] = {}
    if action in ("irregularity", "cancel") or reason:
        kwargs["reason"] = reason
    if action == "irregularity":
        shortfall = _text(form, "fee_shortfall")
        if shortfall not in ("yes", "no"):
            return await _page(request, operator, srn, error="Say whether less than the basic fee was paid.", form=values)
        kwargs["fee_shortfall"] = shortfall == "yes"
        values["fee_shortfall"] = shortfall
    against = _text(form, "recorded_against")
    if action == "register" and against:
        values["recorded_against"] = against
        known = is_srn(against) and await run_in_threadpool(sr_store.get, service(request).engine, against) is not None
        if not known or against == srn:
            return await _page(request, operator, srn, error=f"There is no other service request {against}.", form=values)
        kwargs["recorded_against"] = against
    _label, method, _move = ACTIONS[action]
    examiner = Examiner(service(request))
    source = source_of(request)
    try:
        sr = await run_in_threadpool(lambda: getattr(examiner, method)(srn, actor=operator.actor, source=source, **kwargs))
    except ExaminationError as exc:
        return await _page(request, operator, srn, error=str(exc), form=values)
    notice = f"{srn} is now {sr.status}" + (f" ({sr.irn})" if sr.irn and action == "register" else "")
    return redirect(request, f"/requests/{srn}", notice=notice)
