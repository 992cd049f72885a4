"""The anchor of ``bench/soak.py``: a bare FastAPI app with one GET route returning a
constant small XML body (about the size of an hws status document).

Run by the soak script as ``uvicorn bare_constant_app:app --workers N`` (``--app-dir
bench``), with the same worker count, event loop and HTTP parser as ``hws serve``.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<hws:ServiceRequestStatus xmlns:hws="urn:example:bench" xmlns:com="urn:example:common">'
    b"<hws:ImportIdentifier>00000000-0000-0000-0000-000000000000</hws:ImportIdentifier>"
    b"<com:RecordIdentifier>970000001</com:RecordIdentifier>"
    b"<hws:ProcessingStatusCategory>Registered</hws:ProcessingStatusCategory>"
    b"<hws:TransactionCategory>HagueApplication</hws:TransactionCategory>"
    b"<hws:OfficeCode>KR</hws:OfficeCode>"
    b"<hws:LastChangeDateTime>2026-01-01T00:00:00Z</hws:LastChangeDateTime>"
    b"</hws:ServiceRequestStatus>\n"
)

app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)


@app.get("/constant")
async def constant() -> Response:
    return Response(BODY, media_type="application/xml")


@app.get("/status/{key}")
async def status(key: str, request: Request) -> Response:
    """A per-resource status (``bench/status_polls.py``): the same body, an ETag of its
    own, 304 when the client already has it — the HTTP work of a conditional status poll."""
    etag = f'"s-{key}"'
    headers = {"ETag": etag, "Cache-Control": "no-cache", "Vary": "Accept"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(BODY, media_type="application/xml", headers=headers)
