"""What the office kit raises: one base class, with the server's own words."""

from __future__ import annotations

from dataclasses import dataclass, field


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
