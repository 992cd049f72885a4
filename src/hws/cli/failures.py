"""Every expected failure of a command as one sentence and an exit status.

The ``hws`` command lets exceptions it expects (the service cannot be reached, it refused,
the database is missing, a file cannot be read…) rise to one place, the root command,
which prints what failed and what to do — on stderr, or as JSON on stdout with
``--json`` — and exits with the status of its class (:class:`ExitCode`). ``--debug`` (or
``HWS_DEBUG=1``) lets the traceback through instead.

This module imports no server code: SQLAlchemy's errors are recognised by their module.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import httpx
from rich.markup import escape

from hws.cli.console import emit_json, err
from hws.client.errors import (
    APIError,
    DownloadError,
    HTTPStatusError,
    HWSError,
    InvalidArgument,
    NothingPublished,
    NotYetPublished,
    TokenError,
    UnexpectedResponse,
)


class ExitCode(IntEnum):
    """The exit status of ``hws``, one per class of failure (documented in ``hws --help``)."""

    OK = 0
    FAILED = 1  # refused: the package was rejected, the request is invalid, a check failed
    USAGE = 2  # the command line, the profile or a setting is wrong
    UNREACHABLE = 3  # the service could not be reached: connection refused, DNS, TLS, timeout
    UNAUTHORIZED = 4  # 401/403: the token was refused, a scope or an allowed address is missing
    NOT_FOUND = 5  # 404: no such import, request or week
    CONFLICT = 6  # 409: the state does not allow it (e.g. an idempotency key reused)
    TOO_LARGE = 7  # 413: the package is larger than the service accepts
    RATE_LIMITED = 8  # 429: too many requests; wait and try again
    SERVICE_ERROR = 9  # 5xx: the service failed; try again later, tell the operator if it lasts
    DATABASE = 10  # operator commands: the database is unreachable, missing or not initialised
    FILE = 11  # a local file or folder cannot be read or written
    NOT_YET = 75  # the week is not published yet (EX_TEMPFAIL): try again later
    INTERNAL = 70  # a bug (EX_SOFTWARE): run again with --debug and report the traceback
    INTERRUPTED = 130  # Ctrl-C


@dataclass
class Failure:
    """What a person reads: one line (``message``), what to do (``hint``), the exit status,
    a stable ``kind`` for scripts and any details worth printing as JSON."""

    message: str
    exit_code: ExitCode
    kind: str
    hint: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        return f"{self.message} — {self.hint}" if self.hint else self.message

    def as_json(self) -> dict[str, Any]:
        return {"error": self.line(), "kind": self.kind, "exit_code": int(self.exit_code), **self.details}


class DatabaseNotInitialised(Exception):
    """An operator command found no hws database where the settings point (nothing was created)."""


def _url(exc: httpx.TransportError) -> str:
    try:
        request = exc.request
    except RuntimeError:
        return "the service"
    return f"{request.url.scheme}://{request.url.netloc.decode('ascii', 'replace')}"


_DNS_MARKERS = ("name or service not known", "nodename nor servname", "temporary failure in name resolution", "getaddrinfo")
_TLS_MARKERS = ("certificate_verify_failed", "ssl", "tls", "wrong version number")
_PROFILE_HINT = "check the issuer and API URL (hws configure --show)"


def transport_failure(exc: httpx.TransportError) -> Failure:
    """What went wrong on the way to the service (connection, DNS, TLS, timeout)."""
    where = _url(exc)
    text = str(exc).lower()
    if isinstance(exc, httpx.TimeoutException):
        return Failure(f"{where} did not answer in time ({type(exc).__name__})", ExitCode.UNREACHABLE, "timeout",
                       "the service or the network is slow or down; try again later")  # fmt: skip
    if any(m in text for m in _DNS_MARKERS):
        return Failure(f"cannot resolve the host of {where}", ExitCode.UNREACHABLE, "dns", _PROFILE_HINT)
    if isinstance(exc.__cause__, ssl.SSLError) or any(m in text for m in _TLS_MARKERS):
        return Failure(f"TLS with {where} failed: {exc}", ExitCode.UNREACHABLE, "tls",
                       "check the URL's scheme and that the service's certificate is trusted (SSL_CERT_FILE)")  # fmt: skip
    if isinstance(exc, httpx.ConnectError):
        return Failure(f"cannot connect to {where} (connection refused)", ExitCode.UNREACHABLE, "connection-refused",
                       f"is the service running? {_PROFILE_HINT}")  # fmt: skip
    return Failure(f"the connection to {where} failed ({type(exc).__name__}: {exc})", ExitCode.UNREACHABLE, "connection",
                   "run the same command again (downloads resume)")  # fmt: skip


_BY_STATUS: dict[int, tuple[ExitCode, str]] = {
    401: (ExitCode.UNAUTHORIZED, "check the client ID and private key of your profile (hws configure --show) and that "
          "the key's certificate is enrolled (hws ping tells)"),
    403: (ExitCode.UNAUTHORIZED, "your client lacks the scope or your address is not on its allow-list: ask the operator"),
    404: (ExitCode.NOT_FOUND, "check the identifier"),
    409: (ExitCode.CONFLICT, ""),
    413: (ExitCode.TOO_LARGE, "the package is larger than the service accepts; split or shrink it"),
    429: (ExitCode.RATE_LIMITED, "too many requests: wait a minute and try again"),
}  # fmt: skip


def _refused(exc: HTTPStatusError) -> Failure:
    status = exc.status
    exit_code, hint = _BY_STATUS.get(status, (ExitCode.SERVICE_ERROR if status >= 500 else ExitCode.FAILED, ""))
    if status >= 500:
        hint = "the service failed; try again later and tell the operator if it lasts"
    details: dict[str, Any] = {"status": status}
    if isinstance(exc, APIError):
        details["code"] = exc.code
        if exc.errors:
            details["errors"] = [{"code": e.code, "detail": e.detail, "pointer": e.pointer} for e in exc.errors]
        message = str(exc)
    elif isinstance(exc, TokenError):
        details["code"] = exc.error
        message = f"the token request was refused ({status} {exc.error}: {exc.description})"
        if status == 400 and exc.error in ("invalid_client", "unauthorized_client"):
            exit_code, hint = _BY_STATUS[401]
    else:
        message = str(exc)
    return Failure(message, exit_code, "refused", hint, details)


def _database(exc: BaseException) -> Failure:
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return Failure(
        f"cannot use the database: {reason[0] if reason else type(exc).__name__}",
        ExitCode.DATABASE,
        "database",
        "check HWS_DATABASE_URL (or the settings file) and that the database server runs and the database exists",
    )


def describe(exc: BaseException) -> Failure | None:
    """The failure a person reads for ``exc``, or None for an exception nobody expected."""
    if isinstance(exc, KeyboardInterrupt):
        return Failure("interrupted", ExitCode.INTERRUPTED, "interrupted")
    if isinstance(exc, httpx.TransportError):
        return transport_failure(exc)
    if isinstance(exc, NotYetPublished):
        return Failure(str(exc), ExitCode.NOT_YET, "not-yet-published", "try again later",
                       {"code": exc.code, "week": exc.week, "retry_after": exc.retry_after})  # fmt: skip
    if isinstance(exc, NothingPublished):
        return Failure(str(exc), ExitCode.NOT_FOUND, "nothing-published",
                       "there is no file for this week and there never will be", {"code": exc.code, "week": exc.week})  # fmt: skip
    if isinstance(exc, HTTPStatusError):
        return _refused(exc)
    if isinstance(exc, InvalidArgument):
        return Failure(str(exc), ExitCode.USAGE, "usage")
    if isinstance(exc, (DownloadError, UnexpectedResponse, HWSError)):
        return Failure(str(exc), ExitCode.FAILED, "failed")
    if isinstance(exc, DatabaseNotInitialised):
        return Failure(str(exc), ExitCode.DATABASE, "database-missing")
    if type(exc).__module__.startswith("sqlalchemy") or _is_driver_error(exc):
        return _database(exc)
    if isinstance(exc, OSError):
        name = exc.filename if exc.filename is not None else ""
        where = f"{name}: " if name else ""
        return Failure(f"{where}{exc.strerror or exc}", ExitCode.FILE, "file")
    return None


def _is_driver_error(exc: BaseException) -> bool:
    module = type(exc).__module__
    return module.startswith(("psycopg", "sqlite3")) or (module == "alembic.util.exc")


def debugging(flag: bool) -> bool:
    """``--debug`` or ``HWS_DEBUG=1``: let tracebacks through."""
    return flag or os.environ.get("HWS_DEBUG", "").lower() in ("1", "true", "yes")


def report(failure: Failure, *, as_json: bool) -> None:
    """Print ``failure`` for a person (stderr) or a script (JSON on stdout)."""
    if as_json:
        emit_json(failure.as_json())
    else:
        err.print(f"[bold red]error:[/] {escape(failure.line())}", highlight=False)
