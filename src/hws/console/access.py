"""Who is at the console, and what they may do: the session cookie, the role each page
and action needs (checked here, server-side, on every request), CSRF tokens on every
state-changing form, and the notice shown after an action.

Pages take ``operator: SignedIn = Depends(viewing(Role.X))``; actions (POST) take
``Depends(acting(Role.X))``, which also checks the form's ``csrf_token`` against the
session's and that the request comes from this site (``Origin``/``Sec-Fetch-Site``).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import quote, urlsplit

from fastapi import FastAPI, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from hws.api.security import service_of, source_of
from hws.console.cookies import NOTICE_COOKIE, SESSION_COOKIE, set_cookie
from hws.console.paths import PREFIX
from hws.console.templating import render
from hws.domain.operator_roles import Role
from hws.service import Service
from hws.usecases.operator_accounts import SETTING_UP_TOTP, OperatorAccounts, SignedIn


class SignInNeeded(Exception):
    """No open session: the browser is sent to the sign-in page (then back here)."""

    def __init__(self, next_path: str, stage: str | None = None) -> None:
        self.next_path = next_path
        self.stage = stage


class NotAllowed(Exception):
    """Signed in, but the role or the form does not allow this; shown as a 403 page."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def accounts(request: Request) -> OperatorAccounts:
    return OperatorAccounts(service_of(request))


def service(request: Request) -> Service:
    return service_of(request)


def redirect(request: Request, path: str, *, notice: str | None = None) -> RedirectResponse:
    """303 to ``path`` (under the prefix unless it starts with it), with ``notice`` shown there once."""
    target = path if path.startswith(PREFIX) else PREFIX + path
    response = RedirectResponse(target, status_code=303)
    if notice:
        set_cookie(response, request, NOTICE_COOKIE, quote(notice[:300]), max_age=60)
    return response


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a path of the console only (no open redirect)."""
    if not value or not value.startswith(PREFIX + "/") or value.startswith("//") or "\\" in value:
        return PREFIX + "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return PREFIX + "/"
    return value


async def current(request: Request) -> SignedIn | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token or len(token) > 200:
        return None
    return await run_in_threadpool(accounts(request).session, token)


def viewing(needed: Role) -> Callable[[Request], Awaitable[SignedIn]]:
    """A page's dependency: the signed-in operator, whose role allows ``needed``."""

    async def dependency(request: Request) -> SignedIn:
        operator = await current(request)
        if operator is None or not operator.complete:
            next_path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise SignInNeeded(next_path, operator.stage if operator is not None else None)
        request.state.operator = operator
        if not operator.role.allows(needed):
            await _refused(request, operator, f"needs the {needed.value} role")
            raise NotAllowed(f"This needs the {needed.value} role; you are signed in as {operator.role.value}.")
        return operator

    return dependency


def acting(needed: Role) -> Callable[[Request], Awaitable[SignedIn]]:
    """An action's dependency: as :func:`viewing`, and the form carries this session's
    CSRF token and comes from this site."""
    page = viewing(needed)

    async def dependency(request: Request) -> SignedIn:
        operator = await page(request)
        form = await request.form()
        sent = form.get("csrf_token")
        if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), operator.csrf_token.encode()):
            await _refused(request, operator, "missing or wrong CSRF token")
            raise NotAllowed("This form has expired or did not come from the console; open the page again and retry.")
        if not same_site(request):
            await _refused(request, operator, "cross-site request")
            raise NotAllowed("This request came from another site.")
        return operator

    return dependency


def same_site(request: Request) -> bool:
    """``Sec-Fetch-Site`` (or else ``Origin``), when the browser sends them, name this site."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is not None and origin != "null":
        own = urlsplit(str(request.base_url))
        return urlsplit(origin).netloc == own.netloc
    return True


async def _refused(request: Request, operator: SignedIn, reason: str) -> None:
    from hws.store import audit

    svc = service_of(request)
    event = audit.AuditEvent(
        at=svc.clock.now(), actor=operator.actor, action="console.refused", target=request.url.path[:100],
        outcome="refused", source=source_of(request), detail={"method": request.method, "reason": reason},
    )  # fmt: skip

    def write() -> None:
        with svc.engine.begin() as conn:
            audit.record(conn, event)

    await run_in_threadpool(write)


def new_form_token() -> str:
    return secrets.token_urlsafe(32)


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(SignInNeeded)
    async def _sign_in(request: Request, exc: SignInNeeded) -> Response:
        step = "/sign-in/totp-setup" if exc.stage == SETTING_UP_TOTP else "/sign-in/code" if exc.stage else "/sign-in"
        if request.method != "GET":
            return redirect(request, step)
        return RedirectResponse(f"{PREFIX}{step}?next={quote(exc.next_path, safe='')}", status_code=303)

    @app.exception_handler(NotAllowed)
    async def _not_allowed(request: Request, exc: NotAllowed) -> Response:
        return render(request, "refused.html", status_code=403, message=exc.message)
