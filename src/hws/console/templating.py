"""Rendering console pages: one Jinja2 environment, autoescaped, from the package's
templates; every page gets the operator, the CSRF token and the menu."""

from __future__ import annotations

from datetime import date, datetime
from functools import cache
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from hws import __version__
from hws.console.notices import read as read_notice
from hws.console.notices import take as take_notice
from hws.console.paths import PREFIX, TEMPLATES_DIR
from hws.domain.operator_roles import Role

#: the menu: (label, path under the prefix, role needed to see it)
MENU = (
    ("Dashboard", "/", Role.VIEWER),
    ("Service requests", "/requests", Role.VIEWER),
    ("Rejected imports", "/imports", Role.VIEWER),
    ("Clients", "/clients", Role.VIEWER),
    ("Publications", "/publications", Role.VIEWER),
    ("Audit log", "/audit", Role.VIEWER),
    ("Schema sets", "/schemas", Role.VIEWER),
    ("Operators", "/operators", Role.ADMINISTRATOR),
)


def _when(value: datetime | date | str | None) -> str:
    """A time as people read it here: ``2026-12-04 09:15 UTC`` (dates as ``2026-12-04``)."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return value
        return parsed.strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    return value.isoformat()


def _query(request: Request, **changes: Any) -> str:
    """The current page's query string with ``changes`` (``None`` removes a parameter)."""
    params = dict(request.query_params)
    for name, value in changes.items():
        if value is None:
            params.pop(name, None)
        else:
            params[name] = str(value)
    return "?" + urlencode(params) if params else "?"


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.globals["prefix"] = PREFIX
    env.globals["version"] = __version__
    env.globals["Role"] = Role
    return env


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """``template`` rendered with ``context`` plus what every page needs: ``operator``
    (the signed-in person or ``None``), ``csrf_token``, ``menu``, ``path``, ``query``."""
    operator = getattr(request.state, "operator", None)
    menu = [(label, PREFIX + path) for label, path, role in MENU if operator is not None and operator.role.allows(role)]
    page = environment().get_template(template)
    notice = read_notice(request)
    body = page.render(
        notice=notice,
        request=request,
        operator=operator,
        csrf_token=operator.csrf_token if operator is not None else context.pop("csrf_token", ""),
        menu=menu,
        path=request.url.path,
        query=lambda **changes: _query(request, **changes),
        **context,
    )
    response = HTMLResponse(body, status_code=status_code)
    take_notice(request, response)
    return response
