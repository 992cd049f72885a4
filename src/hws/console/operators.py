"""Operator accounts in the console: administrators add, change, disable, reset and sign
out operators (the same use case as ``hws admin operators``); everyone sees their own
account and can sign out everywhere."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from hws.api.security import source_of
from hws.console.access import accounts, acting, redirect, viewing
from hws.console.templating import render
from hws.domain.operator_roles import Role
from hws.usecases.operator_accounts import AccountError, SignedIn

router = APIRouter()

Name = Annotated[str, Form(max_length=64)]


async def _page(request: Request, *, error: str | None = None, status_code: int = 200) -> Response:
    items = await run_in_threadpool(accounts(request).list)
    return render(request, "operators/list.html", status_code=status_code, operators=items, roles=list(Role), error=error)


@router.get("/operators")
async def operators_page(request: Request, operator: SignedIn = Depends(viewing(Role.ADMINISTRATOR))) -> Response:
    return await _page(request)


@router.post("/operators")
async def add_operator(
    request: Request,
    name: Name,
    role: Annotated[str, Form(max_length=20)],
    password: Annotated[str, Form(max_length=1024)],
    totp: Annotated[str, Form(max_length=5)] = "",
    operator: SignedIn = Depends(acting(Role.ADMINISTRATOR)),
) -> Response:
    try:
        chosen = Role.parse(role)
        added = await run_in_threadpool(
            accounts(request).add, name, chosen, password, actor=operator.actor, source=source_of(request),
            totp_required=None if totp else False,
        )  # fmt: skip
    except (AccountError, ValueError) as exc:
        return await _page(request, error=str(exc), status_code=422)
    return redirect(request, "/operators", notice=f"{added.name} added as {added.role.value}")


@router.post("/operators/{name}/role")
async def change_role(
    request: Request, name: str, role: Annotated[str, Form(max_length=20)],
    operator: SignedIn = Depends(acting(Role.ADMINISTRATOR)),
) -> Response:  # fmt: skip
    try:
        changed = await run_in_threadpool(
            accounts(request).set_role, name, Role.parse(role), actor=operator.actor, source=source_of(request)
        )
    except (AccountError, ValueError) as exc:
        return await _page(request, error=str(exc), status_code=422)
    return redirect(request, "/operators", notice=f"{changed.name} is now {changed.role.value}")


@router.post("/operators/{name}/disable")
@router.post("/operators/{name}/enable")
async def set_disabled(request: Request, name: str, operator: SignedIn = Depends(acting(Role.ADMINISTRATOR))) -> Response:
    disable = request.url.path.endswith("/disable")
    if disable and name == operator.name:
        return await _page(request, error="you cannot disable your own account", status_code=422)
    try:
        changed = await run_in_threadpool(
            accounts(request).set_disabled, name, disable, actor=operator.actor, source=source_of(request)
        )
    except AccountError as exc:
        return await _page(request, error=str(exc), status_code=422)
    return redirect(request, "/operators", notice=f"{changed.name} {'disabled' if disable else 'enabled'}")


@router.post("/operators/{name}/reset")
async def reset(
    request: Request, name: str, password: Annotated[str, Form(max_length=1024)],
    operator: SignedIn = Depends(acting(Role.ADMINISTRATOR)),
) -> Response:  # fmt: skip
    try:
        changed = await run_in_threadpool(
            accounts(request).reset, name, password, actor=operator.actor, source=source_of(request)
        )
    except AccountError as exc:
        return await _page(request, error=str(exc), status_code=422)
    return redirect(request, "/operators", notice=f"{changed.name}: new password; second factor to be set up again")


@router.post("/operators/{name}/sign-out")
async def sign_out_operator(request: Request, name: str, operator: SignedIn = Depends(acting(Role.ADMINISTRATOR))) -> Response:
    ended = await run_in_threadpool(accounts(request).sign_out_everywhere, name, actor=operator.actor, source=source_of(request))
    if name == operator.name:
        return redirect(request, "/sign-in", notice=f"You are signed out everywhere ({ended} sessions ended).")
    return redirect(request, "/operators", notice=f"{ended} session{'s' if ended != 1 else ''} of {name} ended")


@router.get("/account")
async def account(request: Request, operator: SignedIn = Depends(viewing(Role.VIEWER))) -> Response:
    mine = await run_in_threadpool(accounts(request).get, operator.name)
    return render(request, "operators/account.html", account=mine, session=operator)
