"""Everything the office kit raises, in one hierarchy (catch :class:`HWSError` for all)::

    HWSError
    ├── InvalidArgument (also a ValueError) — refused before anything is sent
    │   ├── ProfileError — the office's profile is missing something or unreadable
    │   └── AccessRequestError — an access request form that cannot be read (line, field)
    ├── HTTPStatusError — a server refused; ``status`` is its answer's HTTP status
    │   ├── TokenError — the token endpoint refused (RFC 6749 error, or no token)
    │   ├── DiscoveryError — the discovery document could not be had
    │   ├── StorageError — the storage a download was redirected to refused
    │   └── APIError — the API answered with an RFC 9457 problem (``code``, ``detail``)
    │       ├── NotYetPublished, NothingPublished — the publication 404s
    │       └── RangeNotSatisfiable — 416 on a resumed download
    ├── UnexpectedResponse — an answer the kit cannot read (not what the API documents)
    ├── ImportTimeout — an import still pending when waiting gave up
    ├── UploadError — the package changed while it was sent, or was stored otherwise
    ├── DownloadError — a download out of step with what was announced
    │   └── DigestMismatch — the downloaded bytes are not those announced
    └── UnsafeArchive — an archive that cannot be extracted safely

Network failures are httpx's own (:class:`httpx.TransportError`: connect, read, timeout…),
raised as they are: a caller may retry them, and a download resumes where it stopped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hws.client.statuses import ImportStatus

__all__ = [
    "APIError",
    "DigestMismatch",
    "DiscoveryError",
    "DownloadError",
    "HTTPStatusError",
    "HWSError",
    "ImportTimeout",
    "InvalidArgument",
    "NotYetPublished",
    "NothingPublished",
    "ProblemEntry",
    "ProfileError",
    "RangeNotSatisfiable",
    "StorageError",
    "TokenError",
    "UnexpectedResponse",
    "UnsafeArchive",
    "UploadError",
]

_SCHEDULED = re.compile(r"scheduled for (\S+)")


class HWSError(Exception):
    """Anything that went wrong talking to HWS."""


# --------------------------------------------------------------------------- before sending


class InvalidArgument(HWSError, ValueError):
    """An argument or a setting the kit refuses before anything is sent (still a ValueError)."""


class ProfileError(InvalidArgument):
    """The profile lacks something, or the file cannot be read."""


class AccessRequestError(InvalidArgument):
    """An access request form (WIPO Appendix B) cannot be read; the message names the
    line (Markdown) and the field."""

    def __init__(self, message: str, *, field: str | None = None, line: int | None = None) -> None:
        self.field = field
        self.line = line
        where = ", ".join(part for part in (f"line {line}" if line else "", field or "") if part)
        super().__init__(f"{where}: {message}" if where else message)


# --------------------------------------------------------------------------- error statuses


class HTTPStatusError(HWSError):
    """A server refused what was asked; ``status`` is the HTTP status of its answer (an
    error status, but for a token endpoint that answered 200 without a token)."""

    status: int


@dataclass
class TokenError(HTTPStatusError):
    """The token endpoint refused (RFC 6749 §5.2 ``error`` and description)."""

    status: int
    error: str
    description: str = ""

    def __str__(self) -> str:
        return f"token request refused ({self.status} {self.error}): {self.description}"


class DiscoveryError(HTTPStatusError):
    """The OpenID discovery document answered with an error status."""

    def __init__(self, url: str, status: int) -> None:
        self.url, self.status = url, status
        super().__init__(f"discovery failed: {url} answered {status}")


class StorageError(HTTPStatusError):
    """The storage a download was redirected to (a presigned URL) answered with an error status."""

    def __init__(self, message: str, status: int, url: str) -> None:
        self.status, self.url = status, url
        super().__init__(message)


@dataclass
class ProblemEntry:
    code: str
    detail: str
    pointer: str | None = None


@dataclass
class APIError(HTTPStatusError):
    """An API call answered with an RFC 9457 problem."""

    status: int
    code: str
    title: str
    detail: str = ""
    errors: list[ProblemEntry] = field(default_factory=list)

    def __str__(self) -> str:
        text = f"{self.status} {self.code}: {self.detail or self.title}"
        for entry in self.errors:
            where = f" at {entry.pointer}" if entry.pointer else ""
            text += f"\n  - {entry.code}: {entry.detail}{where}"
        return text


@dataclass
class NotYetPublished(APIError):
    """404 ``not-yet-published``: the week is not over yet (or its publication is running)."""

    week: str = ""
    kind: str = "bulletin"  # or "confidential"
    retry_after: float | None = None

    @property
    def scheduled_for(self) -> str | None:
        match = _SCHEDULED.search(self.detail)
        return match.group(1) if match else None

    def __str__(self) -> str:
        what = "confidential copy" if self.kind == "confidential" else "bulletin"
        text = f"week {self.week} is not published yet ({what})"
        if self.scheduled_for:
            text += f"; scheduled for {self.scheduled_for}"
        if self.retry_after is not None:
            text += f", retry after {self.retry_after:.0f} s"
        return text


@dataclass
class NothingPublished(APIError):
    """404 ``nothing-published``: the week is closed with nothing in it; it never will be."""

    week: str = ""

    def __str__(self) -> str:
        said = (self.detail or self.title).strip().rstrip(".")
        base = f"week {self.week} had nothing to publish"
        return said if said.startswith(base) else f"{base} ({said})"


@dataclass
class RangeNotSatisfiable(APIError):
    """416: the part file is as long as the file (or longer); ``size`` is the file's."""

    size: int | None = None


# --------------------------------------------------------------------------- answers


class UnexpectedResponse(HWSError):
    """The server answered with a document the office kit cannot read."""


class ImportTimeout(HWSError):
    """The import was still ``Pending`` when :meth:`wait_for_import` gave up."""

    def __init__(self, import_id: str, timeout: float, last: ImportStatus | None, error: Exception | None = None) -> None:
        self.import_id = import_id
        self.timeout = timeout
        self.last = last  #: the last status read, None if none could be read
        self.error = error  #: the failure of the last poll, if it failed
        state = "still pending" if last is not None else "status unknown"
        because = f" (last poll failed: {error})" if error is not None else ""
        super().__init__(
            f"import {import_id} {state} after {timeout:g} s{because}; ask again later: hws import-status {import_id}"
        )


# --------------------------------------------------------------------------- the bytes


class UploadError(HWSError):
    """The package changed while it was being sent, or the service stored other bytes than were sent."""


class DownloadError(HWSError):
    """A download out of step with what the service announced (range, version, length,
    digest); what can be resumed is kept, what cannot be trusted is deleted."""


class DigestMismatch(DownloadError):
    """The downloaded bytes are not those the server announced; the part file was deleted."""

    def __init__(self, path: Path, expected: str, actual: str, size: int) -> None:
        self.path, self.expected, self.actual, self.size = path, expected, actual, size
        super().__init__(
            f"{path.name}: the downloaded file ({size} bytes) has sha-256 {actual}, but the server announced "
            f"{expected}; it was deleted and nothing was kept — download it again"
        )


class UnsafeArchive(HWSError):
    """The archive cannot be extracted safely; nothing was written."""

    def __init__(self, archive: Path, problems: list[str]) -> None:
        self.archive, self.problems = archive, problems
        listed = "".join(f"\n  - {p}" for p in problems[:20])
        more = f"\n  … and {len(problems) - 20} more" if len(problems) > 20 else ""
        super().__init__(f"{archive}: refused to extract, nothing was written:{listed}{more}")
