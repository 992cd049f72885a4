"""The console mounted on the service's app: its pages, static files and headers."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.responses import RedirectResponse
from starlette.staticfiles import StaticFiles

from hws.api.ratelimit import Limiter
from hws.console import (
    access,
    audit,
    clients,
    dashboard,
    headers,
    imports,
    operators,
    publications,
    requests,
    schemas,
    signin,
    sso,
    templating,
)
from hws.console.paths import PREFIX, STATIC_DIR

#: the console's page modules, each with a ``router``; their order is the menu's
PAGES = (signin, sso, dashboard, requests, imports, clients, publications, audit, schemas, operators)


def install(app: FastAPI) -> None:
    access.install_handlers(app)
    for page in PAGES:
        app.include_router(page.router, prefix=PREFIX, include_in_schema=False)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC_DIR), name="console-static")

    @app.get("/", include_in_schema=False)
    async def _home() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/", status_code=303)

    rate = app.state.service.settings.console_sign_in_rate_per_minute
    app.state.console_sign_in_limiter = Limiter(per_minute=rate, burst=max(rate // 3, 1), policy_name="console-sign-in")
    app.add_middleware(headers.ConsoleHeaders)
    templating.environment()  # compiled at start-up, not at the first page
