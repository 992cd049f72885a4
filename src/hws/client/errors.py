"""Everything the office kit raises, in one hierarchy (catch :class:`HWSError` for all):

- :class:`TokenError` — the token endpoint refused (RFC 6749 error);
- :class:`APIError` — an API call answered with an RFC 9457 problem; for publications
  :class:`NotYetPublished`, :class:`NothingPublished`, :class:`RangeNotSatisfiable`;
- :class:`UnexpectedResponse` — an answer the kit cannot read (not what the API documents);
- :class:`ImportTimeout` — an import still pending when waiting gave up;
- :class:`DigestMismatch`, :class:`UnsafeArchive` — a download that is not what was announced,
  an archive that cannot be extracted safely;
- :class:`ProfileError` — the office's profile is missing something or unreadable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hws.client.statuses import ImportStatus

_SCHEDULED = re.compile(r"scheduled for (\S+)")


class HWSError(Exception):
    """Anything that went wrong talking to HWS."""


@dataclass
class TokenError(HWSError):
    """The token endpoint refused (RFC 6749 §5.2 ``error`` and description)."""

    status: int
    error: str
    description: str = ""

    def __str__(self) -> str:
        return f"token request refused ({self.status} {self.error}): {self.description}"


@dataclass
class ProblemEntry:
    code: str
    detail: str
    pointer: str | None = None


@dataclass
class APIError(HWSError):
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


class UnexpectedResponse(HWSError):
    """The server answered with a document the office kit cannot read."""


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
        return f"week {self.week} had nothing to publish ({self.detail or self.title})"


@dataclass
class RangeNotSatisfiable(APIError):
    """416: the part file is as long as the file (or longer); ``size`` is the file's."""

    size: int | None = None


class DigestMismatch(HWSError):
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


class ProfileError(HWSError, ValueError):
    """The profile lacks something, or the file cannot be read."""
