"""Signing in and out: name and password, then the TOTP code (or setting TOTP up on a
first sign-in when the account must), signing out here or everywhere."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from hws.api.ratelimit import Limiter, Refused
from hws.api.security import source_of
from hws.auth import one_time_codes
from hws.console.access import accounts, acting, current, new_form_token, redirect, safe_next
from hws.console.cookies import SESSION_COOKIE, SIGN_IN_COOKIE, clear_cookie, set_cookie
from hws.console.paths import PREFIX
from hws.console.templating import render
from hws.domain.operator_roles import Role
from hws.usecases.operator_accounts import SETTING_UP_TOTP, SIGNED_IN, SignedIn, SignInRefused

router = APIRouter()

Text = Annotated[str, Form(max_length=1024)]


def _sso_enabled(request: Request) -> bool:
    return bool(accounts(request).settings.console_oidc_issuer)


def _sign_in_page(request: Request, *, error: str | None = None, name: str = "", status_code: int = 200) -> Response:
    token = new_form_token()
    response = render(
        request, "sign_in.html", status_code=status_code, csrf_token=token, error=error, name=name,
        next=safe_next(request.query_params.get("next")), sso=_sso_enabled(request),
    )  # fmt: skip
    set_cookie(response, request, SIGN_IN_COOKIE, token, max_age=1800)
    return response


def _throttled(request: Request) -> int | None:
    """Seconds to wait when this address has tried to sign in too often (per process), else ``None``."""
    limiter: Limiter | None = getattr(request.app.state, "console_sign_in_limiter", None)
    if limiter is None or limiter.rate <= 0:
        return None
    try:
        limiter.release(limiter.admit(source_of(request) or "unknown").key)
    except Refused as exc:
        return exc.retry_after
    return None


def _too_many(request: Request, wait: int, name: str = "") -> Response:
    response = _sign_in_page(
        request, error=f"Too many sign-in attempts from your address; wait {wait} seconds and try again.", name=name,
        status_code=429,
    )  # fmt: skip
    response.headers["Retry-After"] = str(wait)
    return response


@router.get("/sign-in")
async def sign_in_form(request: Request) -> Response:
    return _sign_in_page(request)


@router.post("/sign-in")
async def sign_in(
    request: Request, name: Text, password: Text, csrf_token: Annotated[str, Form(max_length=100)] = "", next: str = Form("")
) -> Response:
    wait = _throttled(request)
    if wait is not None:
        return _too_many(request, wait, name)
    expected = request.cookies.get(SIGN_IN_COOKIE, "")
    if not expected or not hmac.compare_digest(csrf_token.encode(), expected.encode()):
        return _sign_in_page(
            request, error="The sign-in form had expired; enter your name and password again.", name=name, status_code=403
        )
    try:
        created = await run_in_threadpool(accounts(request).sign_in, name, password, source=source_of(request))
    except SignInRefused as exc:
        return _sign_in_page(request, error=exc.message, name=name, status_code=401)
    stage = created.session.stage
    step = "/sign-in/code" if stage == "password" else "/sign-in/totp-setup" if stage == SETTING_UP_TOTP else None
    target = f"{PREFIX}{step}?next={safe_next(next)}" if step else safe_next(next)
    response = redirect(request, target)
    set_cookie(response, request, SESSION_COOKIE, created.token)
    clear_cookie(response, request, SIGN_IN_COOKIE)
    return response


async def _pending(request: Request) -> SignedIn | None:
    operator = await current(request)
    return operator if operator is not None and operator.stage != SIGNED_IN else None


@router.get("/sign-in/code")
async def code_form(request: Request) -> Response:
    operator = await _pending(request)
    if operator is None:
        return redirect(request, "/sign-in")
    if operator.stage == SETTING_UP_TOTP:
        return redirect(request, f"{PREFIX}/sign-in/totp-setup?next={safe_next(request.query_params.get('next'))}")
    return render(request, "sign_in_code.html", csrf_token=operator.csrf_token, name=operator.name, error=None,
                  next=safe_next(request.query_params.get("next")))  # fmt: skip


@router.get("/sign-in/totp-setup")
async def totp_setup_form(request: Request) -> Response:
    operator = await _pending(request)
    if operator is None or operator.stage != SETTING_UP_TOTP or operator.pending_secret is None:
        return redirect(request, "/sign-in")
    return _setup_page(request, operator, error=None)


def _setup_page(request: Request, operator: SignedIn, error: str | None, status_code: int = 200) -> Response:
    secret = operator.pending_secret or ""
    return render(
        request, "totp_setup.html", status_code=status_code, csrf_token=operator.csrf_token, name=operator.name,
        secret=secret, grouped=" ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        uri=one_time_codes.provisioning_uri(secret, operator.name), error=error,
        next=safe_next(request.query_params.get("next")),
    )  # fmt: skip


@router.post("/sign-in/code")
@router.post("/sign-in/totp-setup")
async def verify_code(
    request: Request, code: Annotated[str, Form(max_length=20)], csrf_token: Annotated[str, Form(max_length=100)] = "",
    next: str = Form(""),
) -> Response:  # fmt: skip
    operator = await _pending(request)
    token = request.cookies.get(SESSION_COOKIE, "")
    if operator is None or not hmac.compare_digest(csrf_token.encode(), operator.csrf_token.encode()):
        return redirect(request, "/sign-in", notice="That sign-in had expired; start again.")
    wait = _throttled(request)
    if wait is not None:
        return _too_many(request, wait)
    try:
        await run_in_threadpool(accounts(request).verify_code, token, code, source=source_of(request))
    except SignInRefused as exc:
        still = await _pending(request)
        if still is None:
            response = redirect(request, "/sign-in", notice=exc.message)
            clear_cookie(response, request, SESSION_COOKIE)
            return response
        if still.stage == SETTING_UP_TOTP:
            return _setup_page(request, still, error=exc.message, status_code=401)
        return render(request, "sign_in_code.html", status_code=401, csrf_token=still.csrf_token, name=still.name,
                      error=exc.message, next=safe_next(next))  # fmt: skip
    return redirect(request, safe_next(next))


@router.post("/sign-out")
async def sign_out(request: Request, operator: SignedIn = Depends(acting(Role.VIEWER))) -> Response:
    await run_in_threadpool(accounts(request).sign_out, request.cookies.get(SESSION_COOKIE, ""), source=source_of(request))
    response = redirect(request, "/sign-in", notice="You are signed out.")
    clear_cookie(response, request, SESSION_COOKIE)
    return response


@router.post("/sign-out-everywhere")
async def sign_out_everywhere(request: Request, operator: SignedIn = Depends(acting(Role.VIEWER))) -> Response:
    ended = await run_in_threadpool(
        accounts(request).sign_out_everywhere, operator.name, actor=operator.actor, source=source_of(request)
    )
    response = redirect(
        request, "/sign-in", notice=f"You are signed out everywhere ({ended} session{'s' if ended != 1 else ''} ended)."
    )
    clear_cookie(response, request, SESSION_COOKIE)
    return response
