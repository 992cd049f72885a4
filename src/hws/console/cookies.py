"""The console's cookies: all HttpOnly, SameSite=Strict, scoped to the console's path,
and Secure when the service is reached over HTTPS."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from hws.console.paths import PREFIX

SESSION_COOKIE = "hws_console"
#: the sign-in form's own CSRF token (double submit: cookie and hidden field), before any session
SIGN_IN_COOKIE = "hws_console_sign_in"
NOTICE_COOKIE = "hws_console_notice"


def secure(request: Request) -> bool:
    """Whether cookies get ``Secure``: the service is reached over HTTPS."""
    return request.url.scheme == "https" or request.app.state.service.settings.public_url.startswith("https:")


def set_cookie(response: Response, request: Request, name: str, value: str, *, max_age: int | None = None) -> None:
    response.set_cookie(name, value, max_age=max_age, path=PREFIX, httponly=True, secure=secure(request), samesite="strict")


def clear_cookie(response: Response, request: Request, name: str) -> None:
    response.delete_cookie(name, path=PREFIX, httponly=True, secure=secure(request), samesite="strict")
