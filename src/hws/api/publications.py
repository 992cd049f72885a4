"""``/publication``: weekly bulletins and confidential copies (scope ``hws/publications``)."""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from hws.api.downloads import blob_response
from hws.api.openapi_responses import AUTHENTICATED, Responses, problems, ref
from hws.api.problems import Problem, wants_json
from hws.api.security import Caller, requires, service_of
from hws.domain.scopes import PUBLICATIONS
from hws.domain.weeks import WEEK_ID_PATTERN, InvalidWeek, Week
from hws.service import Service
from hws.st96.api_documents import PublicationView, publication_list
from hws.store import publications as pub_store

_BINARY = {"schema": {"type": "string", "format": "binary"}}
ZIP_RESPONSES: Responses = {
    200: {"description": "The ZIP (ETag = sha256, Repr-Digest)", "content": {"application/zip": _BINARY}},
    206: {"description": "Part of the ZIP (Range, If-Range)", "content": {"application/zip": _BINARY}},
    304: {"description": "Not modified (If-None-Match)"},
    307: {"description": "Served by object storage: follow Location (presigned S3 downloads)"},
    **problems(
        400,
        404,
        416,
        *AUTHENTICATED,
        described={
            400: "Not a week id yyyyww of an existing ISO week (invalid-week)",
            403: "Scope does not cover the call (insufficient-scope), or not an examining office (not-examining)",
            404: "Not yet published (not-yet-published; Retry-After), nothing published that week "
            "(nothing-published), or before this service's first publication (not-found)",
        },
    ),
}
LIST_RESPONSES: Responses = {
    200: {
        "description": "The publications, newest first: XML by default, JSON when Accept prefers it",
        "content": {"application/xml": {}, "application/json": {"schema": {"type": "array", "items": ref("Publication")}}},
    },
    **problems(
        *AUTHENTICATED,
        described={403: "Scope does not cover the call (insufficient-scope), or not an examining office (not-examining)"},
    ),
}


# The pattern is documented, not enforced by the framework: the route answers a week id
# that does not match with its own problem (invalid-week), after authentication.
WEEK_ID = Annotated[
    str,
    Path(description="ISO week yyyyww (year and week number), ASCII digits", examples=["202401"],
         json_schema_extra={"pattern": WEEK_ID_PATTERN}),
]  # fmt: skip


def _week(text: str) -> Week:
    try:
        return Week.parse(text)
    except InvalidWeek as exc:
        raise Problem("invalid-week", detail=str(exc)) from None


def _not_published(request: Request, week: Week, kind: str) -> Problem:
    service = service_of(request)
    moment = service.settings.schedule.moment(week)
    now = service.calendar.now()
    latest = pub_store.latest_week(service.engine, pub_store.BULLETIN)
    if moment <= now and latest is not None and week.id < latest:
        return Problem("not-found", detail=f"no {kind} for week {week.id}: it precedes this service's first publication")
    wait = max(math.ceil((moment - now).total_seconds()), 60)
    when = moment.isoformat()
    return Problem(
        "not-yet-published",
        detail=f"the {kind} of week {week.id} is scheduled for {when}",
        headers={"Retry-After": str(wait)},
    )


def _audit_download(service: Service, caller: Caller, target: str, request: Request) -> None:
    detail = {k: v for k, v in (("range", request.headers.get("range")), ("method", request.method)) if v}
    service.audit.log(
        caller.client.client_id,
        "publication.downloaded",
        office=caller.client.office,
        target=target,
        source=caller.source,
        detail=detail,
    )


def _empty(week: Week, what: str) -> Problem:
    return Problem("nothing-published", detail=f"week {week.id} had nothing to publish in the {what}")


def _examining(caller: Caller) -> None:
    if not caller.client.examining:
        raise Problem("not-examining", detail=f"office {caller.client.office} is not registered as an examining office")


def _listing(request: Request, kind: str, office: str, path: str) -> Response:
    service = service_of(request)
    schedule = service.settings.schedule
    items = [
        PublicationView(
            week=p.week,
            bulletin_number=Week.parse(p.week).bulletin_number,
            publication_date=schedule.publication_date(Week.parse(p.week)),
            size=p.size,
            sha256=p.sha256,
            registrations=p.registrations,
            decisions=p.decisions,
            published_at=p.published_at,
            url=f"{service.settings.api_url}{path}/{p.week}",
        )
        for p in pub_store.listing(service.engine, kind, office)
        if p.sha256 is not None  # the listing holds only weeks with a file
    ]
    if wants_json(request):
        return JSONResponse(
            [
                {**asdict(i), "publication_date": i.publication_date.isoformat(), "published_at": i.published_at.isoformat()}
                for i in items
            ],
            headers={"Vary": "Accept"},
        )
    return Response(publication_list(kind, items, office or None), media_type="application/xml", headers={"Vary": "Accept"})


def build_router(prefix: str) -> APIRouter:
    router = APIRouter(prefix=f"{prefix}/publication", tags=["publications"])

    @router.get("/bulletin", summary="Published bulletins: week, size, sha256", response_class=Response, responses=LIST_RESPONSES)
    async def bulletins(request: Request, _caller: Caller = Depends(requires(PUBLICATIONS))) -> Response:
        return await run_in_threadpool(_listing, request, pub_store.BULLETIN, "", "/publication/bulletin")

    @router.get(
        "/bulletin/{weekId}",
        summary="The weekly bulletin (ZIP) of ISO week yyyyww",
        response_class=Response,
        responses=ZIP_RESPONSES,
    )
    @router.head(
        "/bulletin/{weekId}",
        summary="Size and digest of the weekly bulletin",
        response_class=Response,
        operation_id="head_bulletin",
        include_in_schema=False,
    )
    async def bulletin(weekId: WEEK_ID, request: Request, _caller: Caller = Depends(requires(PUBLICATIONS))) -> Response:
        week = _week(weekId)
        service = service_of(request)
        found = await run_in_threadpool(pub_store.get, service.engine, pub_store.BULLETIN, week.id)
        if found is None:
            raise await run_in_threadpool(_not_published, request, week, "bulletin")
        if found.sha256 is None:
            raise _empty(week, "bulletin")
        _audit_download(service, _caller, f"bulletin/{week.id}", request)
        return blob_response(request, service, sha256=found.sha256, size=found.size, filename=f"bulletin-{week.id}.zip")

    @router.get(
        "/copy/confidential",
        summary="Your office's published confidential copies",
        response_class=Response,
        responses=LIST_RESPONSES,
    )
    async def copies(request: Request, caller: Caller = Depends(requires(PUBLICATIONS))) -> Response:
        _examining(caller)
        return await run_in_threadpool(
            _listing, request, pub_store.CONFIDENTIAL, caller.client.office, "/publication/copy/confidential"
        )

    @router.get(
        "/copy/confidential/{weekId}",
        summary="Your office's confidential copy (ZIP) of ISO week yyyyww (examining offices only)",
        response_class=Response,
        responses=ZIP_RESPONSES,
    )
    @router.head("/copy/confidential/{weekId}", response_class=Response, operation_id="head_copy", include_in_schema=False)
    async def copy(weekId: WEEK_ID, request: Request, caller: Caller = Depends(requires(PUBLICATIONS))) -> Response:
        week = _week(weekId)
        _examining(caller)
        service = service_of(request)
        office = caller.client.office
        found = await run_in_threadpool(pub_store.get, service.engine, pub_store.CONFIDENTIAL, week.id, office)
        if found is None:
            raise await run_in_threadpool(_not_published, request, week, "confidential copy")
        if found.sha256 is None:
            raise _empty(week, f"confidential copy for {office}")
        _audit_download(service, caller, f"confidential/{week.id}/{office}", request)
        return blob_response(
            request, service, sha256=found.sha256, size=found.size, filename=f"confidential-{office}-{week.id}.zip"
        )

    return router
