"""The API's reference pages, served with no network: Swagger UI at ``/docs`` and ReDoc at
``/redoc``, their scripts and styles from the ``fastapi-offline`` package (which ships
them) under ``/docs/assets`` — nothing is fetched from a CDN, so the pages work inside
an office's or the Bureau's closed network.

Swagger UI's Authorize button offers the two security schemes of the document: a bearer
token pasted from ``hws token`` (what works from a browser), and OAuth2 client
credentials (documented for completeness: a browser cannot sign a private_key_jwt
assertion, so that flow is for the office kit).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

ASSETS = "/docs/assets"
REDIRECT = "/docs/oauth2-redirect"
#: the pages' own policy: their scripts and styles from this service only (Swagger UI
#: starts itself with one inline script; ReDoc's fonts are the browser's, not Google's).
CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


def asset_folder() -> Path:
    """Where ``fastapi-offline`` keeps Swagger UI's and ReDoc's files (inside its wheel)."""
    return Path(str(resources.files("fastapi_offline").joinpath("static")))


def _headers() -> dict[str, str]:
    return {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}


def install(app: FastAPI) -> None:
    """Add ``/docs``, ``/docs/oauth2-redirect``, ``/redoc`` and the assets to ``app``
    (created with ``docs_url=None, redoc_url=None``)."""
    app.mount(ASSETS, StaticFiles(directory=asset_folder()), name="docs-assets")
    title = f"{app.title} {app.version}"

    def prefix(request: Request) -> str:
        return str(request.scope.get("root_path", "")).rstrip("/")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = prefix(request)
        page = get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{title} — Swagger UI",
            swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS}/favicon.png",
            oauth2_redirect_url=f"{root}{REDIRECT}",
            swagger_ui_parameters={"persistAuthorization": False, "tryItOutEnabled": False, "validatorUrl": None},
        )
        page.headers.update(_headers())
        return page

    @app.get(REDIRECT, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        page = get_swagger_ui_oauth2_redirect_html()
        page.headers.update(_headers())
        return page

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = prefix(request)
        page = get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{title} — ReDoc",
            redoc_js_url=f"{root}{ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS}/favicon.png",
            with_google_fonts=False,
        )
        page.headers.update(_headers())
        return page
