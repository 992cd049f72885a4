"""The dashboard: what the International Bureau's day looks like at a glance."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from hws.console.access import service, viewing
from hws.console.templating import render
from hws.domain.operator_roles import Role
from hws.store import service_requests as sr_store
from hws.usecases.operator_accounts import SignedIn

router = APIRouter()


@router.get("/")
async def dashboard(request: Request, operator: SignedIn = Depends(viewing(Role.VIEWER))) -> Response:
    by_status = await run_in_threadpool(sr_store.count_by_status, service(request).engine)
    return render(request, "dashboard.html", by_status=by_status)
