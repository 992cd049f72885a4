"""RFC 9457 problem details: one stable type URI and code per kind of error.

``application/problem+xml`` by default (HWS payloads are XML); ``application/problem+json``
when the client's ``Accept`` prefers JSON. The glossary is ``docs/problems.md``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from hws.st96.api_documents import ProblemItem, problem_document

TYPE_PREFIX = "urn:hws:problem:"

#: What stays literal in ``instance`` (a URI reference): RFC 3986 unreserved, sub-delims, ":@/".
_PATH_SAFE = "/:@!$&'()*+,;=-._~"

#: code → (HTTP status, title). The code is part of the API contract: never rename.
CATALOGUE: dict[str, tuple[int, str]] = {
    "invalid-token": (401, "The access token is missing or not valid"),
    "invalid-dpop-proof": (401, "The DPoP proof is missing or not valid"),
    "use-dpop-nonce": (401, "The DPoP proof must carry the server's nonce"),
    "insufficient-scope": (403, "The access token's scope does not cover this call"),
    "not-found": (404, "No such resource"),
    "request-timeout": (408, "The request body stopped arriving"),
    "method-not-allowed": (405, "Method not allowed"),
    "not-acceptable": (406, "No acceptable representation"),
    "payload-too-large": (413, "Request body too large"),
    "unsupported-media-type": (415, "Unsupported media type"),
    "invalid-request": (400, "The request is malformed"),
    "validation-failed": (422, "The request is well-formed but cannot be processed"),
    "digest-mismatch": (400, "The body does not match its Content-Digest"),
    "idempotency-key-reused": (422, "The Idempotency-Key was already used with a different package"),
    "invalid-week": (400, "Not a week id yyyyww of an existing ISO week"),
    "not-yet-published": (404, "This week is not published yet"),
    "nothing-published": (404, "This week had nothing to publish"),
    "not-examining": (403, "Confidential copies are for examining offices only"),
    "range-not-satisfiable": (416, "The requested range is outside the file"),
    "cursor-expired": (410, "The event cursor is older than the feed's retention"),
    "rate-limited": (429, "Too many requests"),
    "internal-error": (500, "Internal error"),
    "unavailable": (503, "Service temporarily unavailable"),
}


@dataclass
class Problem(Exception):
    code: str
    detail: str | None = None
    status: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    errors: Sequence[ProblemItem] = ()

    def __post_init__(self) -> None:
        if self.code not in CATALOGUE:
            raise ValueError(f"unknown problem code {self.code!r}")
        if self.status is None:
            self.status = CATALOGUE[self.code][0]

    @property
    def title(self) -> str:
        return CATALOGUE[self.code][1]

    @property
    def type_uri(self) -> str:
        return TYPE_PREFIX + self.code


def wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    if not accept:
        return False
    best_json = best_xml = -1.0
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            if param.startswith("q="):
                try:
                    q = float(param[2:])
                except ValueError:
                    q = 0.0
        if media in ("application/problem+json", "application/json"):
            best_json = max(best_json, q)
        elif media in ("application/problem+xml", "application/xml", "text/xml", "*/*", "application/*"):
            best_xml = max(best_xml, q)
    return best_json > best_xml


def render(request: Request, problem: Problem) -> Response:
    status = problem.status or 500
    instance = quote(request.url.path, safe=_PATH_SAFE)  # the decoded path may hold any character
    if wants_json(request):
        body: dict[str, object] = {
            "type": problem.type_uri,
            "title": problem.title,
            "status": status,
            "code": problem.code,
            "instance": instance,
        }
        if problem.detail is not None:
            body["detail"] = problem.detail
        if problem.errors:
            body["errors"] = [
                {k: v for k, v in {"code": e.code, "detail": e.detail, "pointer": e.pointer}.items() if v is not None}
                for e in problem.errors
            ]
        return Response(
            json.dumps(body), status_code=status, media_type="application/problem+json", headers=dict(problem.headers)
        )
    document = problem_document(
        type_uri=problem.type_uri,
        title=problem.title,
        status=status,
        code=problem.code,
        detail=problem.detail,
        instance=instance,
        errors=problem.errors,
    )
    return Response(document, status_code=status, media_type="application/problem+xml", headers=dict(problem.headers))
