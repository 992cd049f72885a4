"""Graceful degradation: while the database or the blob store cannot be reached, every
call that needs them answers 503 ``unavailable`` with ``Retry-After`` — never 500.

Nothing half-done stays behind: each write is one transaction, rolled back by the
database when its connection dies, and a blob stored before its rows could be committed
is referenced by nothing, so the maintenance sweep removes it. Calls that need neither
(``/healthz``, discovery, JWKS, ``/metrics``) keep answering; ``/readyz`` reports 503.

:class:`AvailabilityMiddleware` catches the outage wherever a route raises it; the token
endpoint answers its own RFC 6749 error (:func:`token_unavailable`).
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import sys

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hws.api import problems
from hws.api.problems import Problem
from hws.store import database

log = logging.getLogger("hws.api.availability")

RETRY_AFTER_SECONDS = 5
#: A refused request's body still on the wire is read (and dropped) up to this size, so
#: the client gets its 503 instead of a connection reset for a body nobody read.
DRAIN_LIMIT = 256 * 1024 * 1024

#: Storage errors an operator fixes or that pass (full or failing disk, network
#: storage gone): transient for the client. ENOENT, EACCES and the like are bugs → 500.
_STORAGE_ERRNOS = frozenset(
    getattr(errno, name)
    for name in ("ENOSPC", "EDQUOT", "EIO", "EROFS", "ESTALE", "EMFILE", "ENFILE", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH")
    if hasattr(errno, name)
)
_S3_TRANSIENT_CODES = frozenset({"SlowDown", "ServiceUnavailable", "RequestTimeout", "InternalError"})


def _storage_unavailable(error: BaseException) -> bool:
    if isinstance(error, (ConnectionError, TimeoutError)):
        return True
    if isinstance(error, OSError):
        return error.errno in _STORAGE_ERRNOS
    botocore = sys.modules.get("botocore.exceptions")  # only loaded when the S3 store is in use
    if botocore is not None:
        if isinstance(error, (botocore.ConnectionError, botocore.HTTPClientError)):
            return True
        if isinstance(error, botocore.ClientError):
            info = error.response.get("Error", {})
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            return info.get("Code") in _S3_TRANSIENT_CODES or int(status or 0) >= 500
    return False


def _causes(error: BaseException) -> list[BaseException]:
    """``error`` and what it was raised from (``raise … from``), a few levels deep."""
    chain = [error]
    while (cause := chain[-1].__cause__) is not None and len(chain) < 5:
        chain.append(cause)
    return chain


def is_outage(error: BaseException) -> bool:
    """True when ``error`` (or what it was raised from) means the database or the blob
    store is unavailable right now."""
    return any(database.unavailable(e) or _storage_unavailable(e) for e in _causes(error))


def _what(error: BaseException) -> str:
    return "database" if any(database.unavailable(e) for e in _causes(error)) else "storage"


def _log(request_path: str, error: BaseException) -> None:
    log.warning(
        "dependency unavailable",
        extra={"event": "http.unavailable", "path": request_path, "dependency": _what(error),
               "error": f"{type(error).__name__}: {str(error)[:300]}"},
    )  # fmt: skip


def unavailable_problem(error: BaseException) -> Problem:
    return Problem(
        "unavailable",
        detail=f"the {_what(error)} is temporarily unavailable; retry later",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS), "Cache-Control": "no-store"},
    )


def token_unavailable(request: Request, error: BaseException) -> Response:
    """The token endpoint's answer during an outage (RFC 6749 §5.2 style JSON)."""
    _log(request.url.path, error)
    body = {"error": "temporarily_unavailable", "error_description": "the service is temporarily unavailable; retry later"}
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS), "Cache-Control": "no-store", "Pragma": "no-cache"}
    return Response(json.dumps(body), status_code=503, media_type="application/json", headers=headers)


class AvailabilityMiddleware:
    """Pure ASGI: an outage raised by a route becomes a 503 problem (JSON or XML as the
    client prefers) with ``Retry-After``; anything else goes on to the 500 handler."""

    def __init__(self, app: ASGIApp, *, drain_limit: int = DRAIN_LIMIT, drain_seconds: float = 60.0) -> None:
        self.app = app
        self.drain_limit = drain_limit
        self.drain_seconds = drain_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False
        body_done = False
        body_asked = False  # with "Expect: 100-continue", an unasked body is never sent

        async def receive_wrapper() -> Message:
            nonlocal body_done, body_asked
            body_asked = True
            message = await receive()
            if message["type"] == "http.disconnect" or (message["type"] == "http.request" and not message.get("more_body")):
                body_done = True
            return message

        async def send_wrapper(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive_wrapper, send_wrapper)
        except Exception as error:
            if started or not is_outage(error):
                raise
            request = Request(scope)
            _log(request.url.path, error)
            expects_continue = (b"expect", b"100-continue") in [(k.lower(), v.lower()) for k, v in scope["headers"]]
            if not body_done and (body_asked or not expects_continue):
                await self._drain(receive)
            await problems.render(request, unavailable_problem(error))(scope, receive, send)

    async def _drain(self, receive: Receive) -> None:
        async def drain() -> None:
            received = 0
            while received <= self.drain_limit:
                message = await receive()
                if message["type"] != "http.request" or not message.get("more_body"):
                    return
                received += len(message.get("body", b""))

        try:
            await asyncio.wait_for(drain(), self.drain_seconds)
        except TimeoutError:
            pass  # a stalled body: answer anyway, the server closes the connection
