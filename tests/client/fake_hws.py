"""An in-memory HWS for the office-kit clients: one transport for ``httpx.Client`` and
``httpx.AsyncClient`` alike, answering with the service's own document writers
(:mod:`hws.st96.api_documents`), so the clients are tested against the real contract."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import httpx
from lxml import etree

from hws.st96.api_documents import (
    ImportStatusView,
    ProblemItem,
    RequestStatusView,
    import_status,
    problem_document,
    request_status,
    schema,
)

ISSUER = "https://hws.test/oauth2"
API = "https://hws.test/webservices/api/v1"
RECEIVED = datetime(2025, 3, 7, 9, 30, tzinfo=UTC)


@dataclass
class Upload:
    """What the transport saw of one ``POST /request``."""

    headers: httpx.Headers
    body: bytes
    chunks: int
    stream_type: str


@dataclass
class Answer:
    """A scripted answer: a document view (or a problem) plus headers."""

    view: ImportStatusView | RequestStatusView | None = None
    status: int = 200
    problem: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None


def problem(status: int, code: str, detail: str = "", errors: tuple[ProblemItem, ...] = (), **headers: str) -> Answer:
    return Answer(status=status, problem=problem_document(
        type_uri=f"urn:hws:problem:{code}", title=code, status=status, code=code, detail=detail, errors=errors
    ).decode(), headers=headers)  # fmt: skip


def pending(import_id: str = "imp-1", size: int = 0, sha256: str = "0" * 64) -> ImportStatusView:
    return ImportStatusView(import_id, "Pending", RECEIVED, size, sha256)


def valid(document: bytes) -> bytes:
    """Every document the fake sends is valid against our XSD."""
    schema("hws-api-v1.xsd").assertValid(etree.fromstring(document))
    return document


class FakeHWS(httpx.BaseTransport, httpx.AsyncBaseTransport):
    def __init__(self) -> None:
        self.log: list[httpx.Request] = []
        self.uploads: list[Upload] = []
        self.tokens = 0
        #: access tokens the API refuses with 401 (to exercise the retry)
        self.stale_tokens: set[str] = set()
        #: answers of POST /request, in order; when empty: 202 Pending for what was received
        self.submit_answers: list[Answer] = []
        #: per path, the answers of GET, in order; the last one repeats
        self.gets: dict[str, list[Answer]] = {}
        self.retry_after = "3"
        self.store_other_bytes = False

    # ------------------------------------------------------------------ transport

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        chunks = [bytes(c) for c in request.stream]  # type: ignore[union-attr]
        return self._answer(request, chunks)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        chunks = [bytes(c) async for c in request.stream]  # type: ignore[union-attr]
        return self._answer(request, chunks)

    # ------------------------------------------------------------------ routes

    def _answer(self, request: httpx.Request, chunks: list[bytes]) -> httpx.Response:
        self.log.append(request)
        url = str(request.url)
        if url == f"{ISSUER}/.well-known/openid-configuration":
            return httpx.Response(
                200, json={"issuer": ISSUER, "token_endpoint": f"{ISSUER}/access_token", "hws_api_base_url": API}
            )
        if url == f"{ISSUER}/access_token":
            self.tokens += 1
            return httpx.Response(200, json={"access_token": f"token-{self.tokens}", "token_type": "Bearer", "expires_in": 3600})
        if not url.startswith(API):
            return httpx.Response(404)
        path = url[len(API) :]
        if request.method == "POST" and path == "/request":
            self.uploads.append(Upload(request.headers, b"".join(chunks), len(chunks), type(request.stream).__name__))
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if token in self.stale_tokens or not token:
            return self._send(problem(401, "invalid-token", WWW_Authenticate='Bearer error="invalid_token"'), request)
        if request.method == "POST" and path == "/request":
            return self._submitted(request, b"".join(chunks))
        if request.method == "GET" and path in self.gets:
            script = self.gets[path]
            answer = script.pop(0) if len(script) > 1 else script[0]
            return self._send(answer, request)
        return self._send(problem(404, "not-found"), request)

    def _submitted(self, request: httpx.Request, body: bytes) -> httpx.Response:
        if self.submit_answers:
            return self._send(self.submit_answers.pop(0), request)
        sha = hashlib.sha256(body if not self.store_other_bytes else body + b"x").hexdigest()
        import_id = f"imp-{len(self.uploads)}"
        view = pending(import_id, len(body), sha)
        headers = {"Location": f"/webservices/api/v1/request/import/{import_id}", "Retry-After": self.retry_after}
        return self._send(Answer(view, 202, headers=headers), request)

    def _send(self, answer: Answer, request: httpx.Request) -> httpx.Response:
        headers = dict(answer.headers)
        headers = {k.replace("_", "-"): v for k, v in headers.items()}
        if answer.problem is not None:
            return httpx.Response(answer.status, content=answer.problem.encode(),
                                  headers={"Content-Type": "application/problem+xml", **headers})  # fmt: skip
        if answer.etag is not None:
            headers["ETag"] = answer.etag
            if request.headers.get("if-none-match") == answer.etag:
                return httpx.Response(304, headers=headers)
        assert answer.view is not None
        if isinstance(answer.view, ImportStatusView):
            body = valid(import_status(answer.view))
        else:
            body = valid(request_status(answer.view))
        return httpx.Response(answer.status, content=body, headers={"Content-Type": "application/xml", **headers})

    # ------------------------------------------------------------------ helpers

    def api_requests(self, method: str | None = None) -> list[httpx.Request]:
        return [r for r in self.log if str(r.url).startswith(API) and (method is None or r.method == method)]


def content_digest(data: bytes) -> str:
    return f"sha-256=:{base64.b64encode(hashlib.sha256(data).digest()).decode()}:"


@dataclass
class FakeClock:
    """A monotonic clock that only moves when the client sleeps."""

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)


def imported(view: ImportStatusView, srn: str = "970000001", **changes: Any) -> ImportStatusView:
    return replace(view, status="Imported", srn=srn, processed_at=RECEIVED, transaction="HagueApplication", **changes)
