"""OAuth2 scopes of the HWS API and what each one covers."""

from __future__ import annotations

from collections.abc import Iterable

#: send packages, read import and service-request status
REQUESTS = "hws/requests"
#: download bulletins and (for examining offices) confidential copies
PUBLICATIONS = "hws/publications"
#: operator actions: examination, publication, client administration
ADMIN = "hws/admin"

ALL_SCOPES: tuple[str, ...] = (REQUESTS, PUBLICATIONS, ADMIN)
OFFICE_DEFAULT_SCOPES: tuple[str, ...] = (REQUESTS, PUBLICATIONS)

DESCRIPTIONS = {
    REQUESTS: "Send indirect applications and decisions; read import and request status.",
    PUBLICATIONS: "Download weekly bulletins and, for examining offices, confidential copies.",
    ADMIN: "Operator actions (the International Bureau's role).",
}


def parse_scope(value: str | None) -> list[str]:
    """Split an RFC 6749 scope string, keeping order and dropping repeats."""
    seen: list[str] = []
    for item in (value or "").split(" "):
        if item and item not in seen:
            seen.append(item)
    return seen


def format_scope(scopes: Iterable[str]) -> str:
    return " ".join(scopes)


def check_known(scopes: Iterable[str]) -> list[str]:
    """Return the scopes, or raise ``ValueError`` naming the first unknown one."""
    result = list(scopes)
    for scope in result:
        if scope not in ALL_SCOPES:
            raise ValueError(f"unknown scope {scope!r}; known scopes: {', '.join(ALL_SCOPES)}")
    return result
