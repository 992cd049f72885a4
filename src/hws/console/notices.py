"""The one-line notice shown after an action ("IR DM/000123 registered"), carried to
the next page in a short-lived cookie and cleared there."""

from __future__ import annotations

from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import Response

from hws.console.cookies import NOTICE_COOKIE, clear_cookie


def take(request: Request, response: Response) -> None:
    """Clear the notice cookie on ``response`` if the request had one."""
    if NOTICE_COOKIE in request.cookies:
        clear_cookie(response, request, NOTICE_COOKIE)


def read(request: Request) -> str | None:
    value = request.cookies.get(NOTICE_COOKIE)
    return unquote(value)[:300] if value else None
