"""Published weeks: the list (bulletins and confidential copies), one week's files with
their stored summary and a download, and the administrator's actions — build the due
weeks now (:meth:`Publisher.publish`, as ``hws admin publish`` does) and verify a stored
file (re-read from the blob store, its digest and size compared to the record).

Every action and download is written to the audit log with the operator's name and address.
"""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from hws.api.downloads import blob_response
from hws.api.security import source_of
from hws.console.access import acting, redirect, service, viewing
from hws.console.templating import render
from hws.domain.operator_roles import Role
from hws.domain.weeks import InvalidWeek, Week
from hws.service import Service
from hws.store import audit
from hws.store import publications as pub_store
from hws.store.blobs import BlobNotFound
from hws.usecases.operator_accounts import SignedIn
from hws.usecases.publishing import Publisher

router = APIRouter()

PER_PAGE = 50
KINDS = (pub_store.BULLETIN, pub_store.CONFIDENTIAL)
VERIFIED = "publication.verified"
CHUNK = 1024 * 1024


def target_of(record: pub_store.Publication) -> str:
    """The audit target of a publication, as the API's downloads name it."""
    if record.kind == pub_store.BULLETIN:
        return f"bulletin/{record.week}"
    return f"confidential/{record.week}/{record.office}"


def filename_of(record: pub_store.Publication) -> str:
    if record.kind == pub_store.BULLETIN:
        return f"bulletin-{record.week}.zip"
    return f"confidential-{record.office}-{record.week}.zip"


def _page(value: str | None) -> int:
    try:
        return max(1, min(int(value or 1), 100_000))
    except ValueError:
        return 1


def _week(text: str) -> Week | None:
    try:
        return Week.parse(text)
    except InvalidWeek:
        return None


def _write_audit(svc: Service, event: audit.AuditEvent) -> None:
    with svc.engine.begin() as conn:
        audit.record(conn, event)


# The list ---------------------------------------------------------------------------------


def _listing(svc: Service, page: int) -> dict[str, Any]:
    records, total = pub_store.recent(svc.engine, limit=PER_PAGE, offset=(page - 1) * PER_PAGE)
    publisher = Publisher(svc)
    return {
        "records": records,
        "total": total,
        "page": page,
        "pages": max(1, -(-total // PER_PAGE)),
        "due": publisher.due(),
        "next_week": publisher.schedule.next_after(svc.calendar.now()),
        "schedule": publisher.schedule,
    }


@router.get("/publications")
async def publications(request: Request, operator: SignedIn = Depends(viewing(Role.VIEWER))) -> Response:
    context = await run_in_threadpool(_listing, service(request), _page(request.query_params.get("page")))
    return render(request, "publications/list.html", **context)


# One week ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Contents:
    """What the published ZIP holds, read from its central directory."""

    entries: int = 0
    xml: tuple[str, ...] = ()
    images: int = 0
    unpacked: int = 0
    problem: str | None = None


@dataclass(frozen=True)
class Shown:
    record: pub_store.Publication
    target: str
    #: the newest verification in the audit log (None: never verified)
    verified: dict[str, Any] | None
    contents: Contents | None


def contents_of(svc: Service, sha256: str) -> Contents:
    try:
        with svc.blobs.open(sha256) as handle, zipfile.ZipFile(handle) as archive:
            files = [i for i in archive.infolist() if not i.is_dir()]
    except (BlobNotFound, FileNotFoundError):
        return Contents(problem="the stored file is missing")
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        return Contents(problem=f"the stored file is not a readable ZIP ({exc})")
    return Contents(
        entries=len(files),
        xml=tuple(i.filename for i in files if i.filename.lower().endswith(".xml")),
        images=sum(1 for i in files if i.filename.startswith("images/")),
        unpacked=sum(i.file_size for i in files),
    )


def _records(svc: Service, kind: str, week: Week, office: str | None) -> list[pub_store.Publication]:
    found = [p for p in pub_store.for_week(svc.engine, week.id) if p.kind == kind]
    if office:
        found = [p for p in found if p.office == office.strip().upper()]
    return found


def _detail(svc: Service, kind: str, week: Week, office: str | None) -> list[Shown]:
    shown = []
    for record in _records(svc, kind, week, office):
        target = target_of(record)
        last = audit.query(svc.engine, action=VERIFIED, target=target, limit=1)
        contents = contents_of(svc, record.sha256) if record.sha256 else None
        shown.append(Shown(record, target, last[0] if last else None, contents))
    return shown


@router.get("/publications/{kind}/{week_id}")
async def publication(kind: str, week_id: str, request: Request, operator: SignedIn = Depends(viewing(Role.VIEWER))) -> Response:
    week = _week(week_id)
    office = request.query_params.get("office")
    svc = service(request)
    shown = await run_in_threadpool(_detail, svc, kind, week, office) if week and kind in KINDS else []
    if not shown or week is None:
        return render(request, "publications/missing.html", status_code=404, kind=kind, week_id=week_id)
    schedule = svc.settings.schedule
    return render(
        request,
        "publications/detail.html",
        kind=kind,
        week=week,
        publication_date=schedule.publication_date(week),
        shown=shown,
    )


@router.get("/publications/{kind}/{week_id}/download")
async def download(kind: str, week_id: str, request: Request, operator: SignedIn = Depends(viewing(Role.VIEWER))) -> Response:
    week = _week(week_id)
    office = request.query_params.get("office") or ""
    svc = service(request)
    record = None
    if week is not None and kind in KINDS:
        record = await run_in_threadpool(pub_store.get, svc.engine, kind, week.id, office.strip().upper())
    if record is None or record.sha256 is None:
        return render(request, "publications/missing.html", status_code=404, kind=kind, week_id=week_id)
    svc.audit.log(
        operator.actor, "publication.downloaded", office=record.office or None, target=target_of(record),
        source=source_of(request), detail={"method": request.method, "via": "console"},
    )  # fmt: skip
    return blob_response(request, svc, sha256=record.sha256, size=record.size, filename=filename_of(record))


# Actions ----------------------------------------------------------------------------------


def _build(svc: Service, operator: SignedIn, source: str | None) -> list[pub_store.Publication]:
    """Publish every due week, as ``hws admin publish`` does without ``--week``."""
    publisher = Publisher(svc)
    weeks = publisher.due()
    built: list[pub_store.Publication] = []
    for week in weeks:
        built.extend(publisher.publish(week))
    _write_audit(
        svc,
        audit.AuditEvent(
            at=svc.clock.now(), actor=operator.actor, action="publication.built", target=",".join(w.id for w in weeks)[:100] or None,
            outcome="ok" if weeks else "nothing-due", source=source,
            detail={"weeks": [w.id for w in weeks], "files": [target_of(p) for p in built if p.sha256],
                    "empty": [target_of(p) for p in built if p.sha256 is None]},
        ),
    )  # fmt: skip
    return built


@router.post("/publications/build")
async def build(request: Request, operator: SignedIn = Depends(acting(Role.ADMINISTRATOR))) -> Response:
    built = await run_in_threadpool(_build, service(request), operator, source_of(request))
    if not built:
        return redirect(request, "/publications", notice="Nothing to publish: every due week is published.")
    weeks = sorted({p.week for p in built})
    files = sum(1 for p in built if p.sha256)
    return redirect(
        request, "/publications", notice=f"Published week{'s' if len(weeks) > 1 else ''} {', '.join(weeks)}: {files} file(s)."
    )


@dataclass(frozen=True)
class Verification:
    outcome: str  # "ok", "mismatch", "missing"
    sha256: str | None
    size: int | None


def verify_blob(svc: Service, record: pub_store.Publication) -> Verification:
    """Read the stored file again, whole, and compare its digest and size to the record."""
    assert record.sha256 is not None
    digest = hashlib.sha256()
    size = 0
    try:
        with svc.blobs.open(record.sha256) as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
    except (BlobNotFound, FileNotFoundError):
        return Verification("missing", None, None)
    found = digest.hexdigest()
    return Verification("ok" if found == record.sha256 and size == record.size else "mismatch", found, size)


def _verify(svc: Service, record: pub_store.Publication, operator: SignedIn, source: str | None) -> Verification:
    result = verify_blob(svc, record)
    _write_audit(
        svc,
        audit.AuditEvent(
            at=svc.clock.now(), actor=operator.actor, action=VERIFIED, target=target_of(record), office=record.office or None,
            outcome=result.outcome, source=source,
            detail={"recorded_sha256": record.sha256, "recorded_size": record.size, "found_sha256": result.sha256,
                    "found_size": result.size},
        ),
    )  # fmt: skip
    return result


@router.post("/publications/{kind}/{week_id}/verify")
async def verify(kind: str, week_id: str, request: Request, operator: SignedIn = Depends(acting(Role.ADMINISTRATOR))) -> Response:
    form = await request.form()
    office = str(form.get("office") or "").strip().upper()
    week = _week(week_id)
    svc = service(request)
    record = None
    if week is not None and kind in KINDS:
        record = await run_in_threadpool(pub_store.get, svc.engine, kind, week.id, office)
    if record is None or record.sha256 is None or week is None:
        return render(request, "publications/missing.html", status_code=404, kind=kind, week_id=week_id)
    result = await run_in_threadpool(_verify, svc, record, operator, source_of(request))
    what = f"{kind} {week.id}{' ' + office if office else ''}"
    message = {
        "ok": f"Verified {what}: the stored file matches its record ({record.size} bytes, sha256 {record.sha256[:16]}…).",
        "mismatch": f"{what} DOES NOT match its record: stored file {result.size} bytes, sha256 {(result.sha256 or '')[:16]}….",
        "missing": f"{what}: the stored file is MISSING from the blob store.",
    }[result.outcome]
    back = f"/publications/{kind}/{week.id}" + (f"?office={office}" if office else "")
    return redirect(request, back, notice=message)
