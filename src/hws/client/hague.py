"""``HagueClient`` and ``AsyncHagueClient``: the office kit's API client.

Both discover the token endpoint, sign a fresh assertion for every token request,
cache the access token until shortly before it expires, and on a 401 from the API
fetch a new token and retry once.

Submission (spec §4): :meth:`~HagueClient.submit` streams a package with its
``Content-Digest``; :meth:`~HagueClient.import_status`,
:meth:`~HagueClient.request_status` read the statuses (conditionally: the last ``ETag``
of each resource is sent back as ``If-None-Match`` and a 304 returns the cached result);
:meth:`~HagueClient.wait_for_import` polls until the import is decided. The sync and
async twins share everything but the I/O: parsing (:mod:`hws.client.statuses`), the
upload body (:mod:`hws.client.upload`) and the poll schedule (:mod:`hws.client.polling`).

Publication (spec §7): :meth:`~HagueClient.download_bulletin` and
:meth:`~HagueClient.download_confidential` fetch a week's ZIP, resumable and verified
(:mod:`hws.client.downloads`); :meth:`~HagueClient.list_bulletins`,
:meth:`~HagueClient.list_confidential` list the published weeks and
:meth:`~HagueClient.backfill` downloads every published week since a given one.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, replace
from os import PathLike
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import quote, urlsplit

import httpx

from hws import __version__
from hws.client.assertion import sign_client_assertion
from hws.client.downloads import (
    ACCEPT_ZIP,
    CONFIDENTIAL,
    REDIRECTS,
    BackfillProgress,
    DownloadResult,
    Publication,
    Transfer,
    backfill_weeks,
    endpoint,
    file_name,
    parse_publication_list,
    publication_error,
    week_progress,
)
from hws.client.dpop import DPoPKey, dpop_error
from hws.client.enrolment import load_private_key
from hws.client.errors import (
    APIError,
    DiscoveryError,
    ImportTimeout,
    InvalidArgument,
    NothingPublished,
    ProblemEntry,
    RangeNotSatisfiable,
    StorageError,
    TokenError,
    UnexpectedResponse,
    UploadError,
)
from hws.client.events import FeedEvent, afollow, follow
from hws.client.polling import (
    DEFAULT_MAX_POLL,
    DEFAULT_POLL,
    DEFAULT_TIMEOUT,
    PollSchedule,
    parse_retry_after,
    transient,
)
from hws.client.profile import Profile
from hws.client.profile import load as load_profile
from hws.client.statuses import (
    ImportStatus,
    RequestStatus,
    parse_import_status,
    parse_request_status,
)
from hws.client.upload import FileDigest, Progress, async_file_body, file_body, file_digest, upload_headers
from hws.domain.weeks import Week
from hws.keys.public_keys import PrivateKey
from hws.st96.api_documents import DocumentError, read_ping_response, read_problem_document

API_PATH = "/webservices/api/v1"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
REFRESH_MARGIN = 60.0
USER_AGENT = f"hws-office-kit/{__version__}"

_T = TypeVar("_T")


@dataclass(frozen=True)
class PingResult:
    message: str
    client_id: str
    office: str
    timestamp: str


def problem_from(response: httpx.Response) -> APIError:
    """Read an RFC 9457 problem (XML, by :func:`hws.st96.api_documents.read_problem_document`
    beside the service's writer, or JSON) into an :class:`APIError`."""
    content_type = response.headers.get("content-type", "")
    try:
        if "json" in content_type:
            data = response.json()
            return APIError(
                response.status_code,
                str(data.get("code", "")),
                str(data.get("title", "")),
                str(data.get("detail", "")),
                [ProblemEntry(e.get("code", ""), e.get("detail", ""), e.get("pointer")) for e in data.get("errors", [])],
            )
        if "xml" in content_type:
            problem = read_problem_document(response.content)
            entries = [ProblemEntry(e.code, e.detail, e.pointer or None) for e in problem.errors]
            return APIError(response.status_code, problem.code, problem.title, problem.detail or "", entries)
    except ValueError:  # DocumentError too: not a problem document
        pass
    return APIError(response.status_code, "http-error", response.reason_phrase, response.text[:500])


def _import_status_of(response: httpx.Response) -> ImportStatus:
    location = response.headers.get("location")
    return replace(
        parse_import_status(response.content),
        retry_after=parse_retry_after(response.headers.get("retry-after")),
        location=str(response.url.join(location)) if location else None,
    )


def _request_status_of(response: httpx.Response) -> RequestStatus:
    return parse_request_status(response.content)


def _parse_ping(response: httpx.Response) -> PingResult:
    """``hws:PingResponse`` (:func:`hws.st96.api_documents.read_ping_response`)."""
    try:
        view = read_ping_response(response.content)
    except DocumentError as exc:
        raise UnexpectedResponse(str(exc)) from None
    return PingResult(view.message, view.client_id, view.office, view.timestamp)


def _redirect_target(response: httpx.Response) -> str | None:
    if response.status_code in REDIRECTS and response.headers.get("location"):
        return str(response.url.join(response.headers["location"]))
    return None


def _storage_error(response: httpx.Response) -> StorageError:
    return StorageError(
        f"the storage the service redirected to answered {response.status_code} {response.reason_phrase} "
        f"({response.url.host}); run again for a fresh link: {response.text[:200]}",
        response.status_code,
        str(response.url),
    )


@dataclass
class _Attempts:
    """The retries of one API call: the DPoP nonce's (once) and a new token's (once)."""

    nonce: bool = False
    token: bool = False
    force: bool = False  # the next attempt asks for a new token

    def forced(self) -> bool:
        force, self.force = self.force, False
        return force


class _Base:
    """What the sync and async clients share: configuration and the token cache."""

    def __init__(
        self,
        *,
        issuer: str,
        client_id: str,
        private_key: PrivateKey | str | Path,
        api_url: str | None = None,
        scope: str | None = None,
        audience: str = "issuer",
        token_endpoint: str | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        dpop: bool | DPoPKey | str | Path = False,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        #: the DPoP key (RFC 9449) when tokens are to be sender-constrained: ``True`` makes
        #: one for this client's life, a path reads one (the profile's ``dpop_key``)
        self.dpop: DPoPKey | None = (
            DPoPKey.generate()
            if dpop is True
            else dpop
            if isinstance(dpop, DPoPKey)
            else DPoPKey.from_file(dpop)
            if isinstance(dpop, str | Path) and str(dpop)
            else None
        )
        self.client_id = client_id
        self._key = load_private_key(Path(private_key)) if isinstance(private_key, str | Path) else private_key
        self._api_url = api_url.rstrip("/") if api_url else None
        self.scope = scope
        if audience not in ("issuer", "token_endpoint"):
            raise InvalidArgument("audience must be 'issuer' or 'token_endpoint'")
        self.audience = audience
        self._token_endpoint = token_endpoint
        self._token: dict[str, Any] | None = None
        self._token_expires = 0.0
        self._lock = threading.Lock()
        self._monotonic = monotonic
        #: path → (ETag, parsed result) of the last 200 answer that carried an ETag
        self._etags: dict[str, tuple[str, Any]] = {}
        #: the caller's office code, learnt from ``/pingMe`` when a file name needs it
        self._office: str | None = None

    @classmethod
    def _profile_kwargs(cls, profile: Profile) -> dict[str, Any]:
        profile.require()
        return {
            "issuer": profile.issuer,
            "client_id": profile.client_id,
            "private_key": profile.private_key,
            "api_url": profile.api_url,
            "scope": profile.scope,
            "audience": profile.audience,
            "dpop": profile.dpop_key or False,
        }

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    def _discovered(self, response: httpx.Response) -> dict[str, Any]:
        """The discovery document of a ``GET`` of :attr:`discovery_url`, put to use."""
        if response.status_code != 200:
            raise DiscoveryError(self.discovery_url, response.status_code)
        try:
            document = response.json()
        except ValueError:
            document = None
        if not isinstance(document, dict):
            raise UnexpectedResponse(f"{self.discovery_url} is not a JSON object")
        self._use_discovery(document)
        return document

    def _use_discovery(self, document: dict[str, Any]) -> None:
        endpoint = document.get("token_endpoint")
        if not isinstance(endpoint, str):
            raise UnexpectedResponse(f"{self.discovery_url} names no token_endpoint")
        self._token_endpoint = endpoint
        if self._api_url is None:
            base = document.get("hws_api_base_url")
            self._api_url = base if isinstance(base, str) else None

    @property
    def api_url(self) -> str:
        if self._api_url:
            return self._api_url
        parts = urlsplit(self.issuer)
        return f"{parts.scheme}://{parts.netloc}{API_PATH}"

    def _token_form(self) -> dict[str, str]:
        assert self._token_endpoint is not None
        audience = self.issuer if self.audience == "issuer" else self._token_endpoint
        form = {
            "grant_type": "client_credentials",
            "client_assertion_type": JWT_BEARER,
            "client_assertion": sign_client_assertion(self._key, client_id=self.client_id, audience=audience),
        }
        if self.scope:
            form["scope"] = self.scope
        return form

    def _accept_token(self, response: httpx.Response) -> dict[str, Any]:
        try:
            parsed = response.json()
        except ValueError:
            parsed = None
        body: dict[str, Any] = parsed if isinstance(parsed, dict) else {}
        if response.status_code != 200 or "access_token" not in body:
            raise TokenError(
                response.status_code,
                str(body.get("error", "http-error")),
                str(body.get("error_description", response.reason_phrase)),
            )
        if self.dpop is not None and str(body.get("token_type", "")).lower() != "dpop":
            raise TokenError(
                response.status_code,
                "not-dpop-bound",
                f"the service answered a DPoP token request with a {body.get('token_type')!r} token: it does not bind "
                "this client's tokens (ask the operator for token binding dpop-allowed or dpop-required)",
            )
        try:
            lifetime = float(body.get("expires_in", 3600))
        except (TypeError, ValueError):
            raise UnexpectedResponse(f"the token response's expires_in is not a number: {body.get('expires_in')!r}") from None
        self._token = body
        self._token_expires = time.monotonic() + lifetime
        return body

    def _cached(self) -> dict[str, Any] | None:
        if self._token and time.monotonic() < self._token_expires - REFRESH_MARGIN:
            return self._token
        return None

    def _headers(self, token: str, accept: str, method: str, url: str) -> dict[str, str]:
        if self.dpop is None:
            return {"Authorization": f"Bearer {token}", "Accept": accept}
        proof = self.dpop.proof(method, url, access_token=token)
        return {"Authorization": f"DPoP {token}", "DPoP": proof, "Accept": accept}

    def _token_headers(self) -> dict[str, str]:
        assert self._token_endpoint is not None
        return {"DPoP": self.dpop.proof("POST", self._token_endpoint)} if self.dpop is not None else {}

    def _token_again(self, response: httpx.Response, attempt: int) -> bool:
        """Whether to ask for the token again: once, when the service wants its DPoP nonce."""
        if self.dpop is None:
            return False
        self.dpop.remember_nonce(response)
        return attempt == 0 and dpop_error(response) == "use_dpop_nonce"

    def _again(self, response: httpx.Response, attempts: _Attempts) -> bool:
        """Whether to send an API call again: once with the DPoP nonce the service asks for,
        once with a new token after any other 401."""
        if self.dpop is not None:
            self.dpop.remember_nonce(response)
        if response.status_code != 401:
            return False
        if self.dpop is not None and not attempts.nonce and dpop_error(response) == "use_dpop_nonce":
            attempts.nonce = True
            return True
        if not attempts.token:
            attempts.token = attempts.force = True
            self.forget_token()
            return True
        return False

    def forget_token(self) -> None:
        self._token = None
        self._token_expires = 0.0

    # ----------------------------------------------------------------- submission (shared)

    @staticmethod
    def _import_path(import_id: str) -> str:
        return f"/request/import/{quote(import_id, safe='')}"

    @staticmethod
    def _request_path(srn: str) -> str:
        return f"/request/{quote(srn, safe='')}"

    def _if_none_match(self, path: str) -> dict[str, str]:
        cached = self._etags.get(path)
        return {"If-None-Match": cached[0]} if cached else {}

    def _conditional(self, path: str, response: httpx.Response, parse: Callable[[httpx.Response], _T]) -> _T:
        """The result of a conditional GET: the cached one on 304, else parsed and remembered."""
        if response.status_code == 304:
            cached = self._etags.get(path)
            if cached is None:
                raise UnexpectedResponse(f"304 Not Modified for {path}, which was never fetched")
            result = cached[1]
            if isinstance(result, ImportStatus):
                result = replace(result, retry_after=parse_retry_after(response.headers.get("retry-after")))
            return cast(_T, result)
        if response.status_code != 200:
            raise UnexpectedResponse(f"GET {path} answered {response.status_code}")
        result = parse(response)
        etag = response.headers.get("etag")
        if etag:
            self._etags[path] = (etag, result)
        else:
            self._etags.pop(path, None)
        return result

    @staticmethod
    def _submitted(response: httpx.Response, digest: FileDigest) -> ImportStatus:
        if not 200 <= response.status_code < 300:
            raise UnexpectedResponse(f"POST /request answered {response.status_code}")
        status = _import_status_of(response)
        if status.package_sha256 != digest.hex or status.package_size != digest.size:
            raise UploadError(
                f"the service stored other bytes than were sent (sha-256:{status.package_sha256}, "
                f"{status.package_size} bytes; sent sha-256:{digest.hex}, {digest.size} bytes)"
            )
        return status

    # ----------------------------------------------------------------- publication (shared)

    @staticmethod
    def _publication_problem(kind: str, week: str) -> Callable[[httpx.Response], APIError]:
        return lambda response: publication_error(problem_from(response), response, kind, week)

    def _transfer(self, kind: str, week: str, dest_dir: str | PathLike[str], progress: Progress | None) -> Transfer:
        name = file_name(kind, week, self._office if kind == CONFIDENTIAL else None)
        return Transfer(kind, week, name, Path(dest_dir), progress)


class HagueClient(_Base):
    """Synchronous client. Use as a context manager, or call :meth:`close`."""

    def __init__(
        self,
        *,
        http: httpx.Client | None = None,
        timeout: float = 30.0,
        verify: bool | str = True,
        sleep: Callable[[float], None] = time.sleep,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._http = http or httpx.Client(timeout=timeout, verify=verify, headers={"User-Agent": USER_AGENT})
        self._sleep = sleep

    @classmethod
    def from_profile(cls, name: str | None = None, **kwargs: Any) -> HagueClient:
        return cls(**cls._profile_kwargs(load_profile(name)), **kwargs)

    def __enter__(self) -> HagueClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def discover(self) -> dict[str, Any]:
        return self._discovered(self._http.get(self.discovery_url))

    def token_response(self, *, force: bool = False) -> dict[str, Any]:
        """The whole token response (cached until shortly before it expires)."""
        with self._lock:
            if not force and (cached := self._cached()):
                return cached
            if self._token_endpoint is None:
                self.discover()
            assert self._token_endpoint is not None
            for attempt in range(2):
                response = self._http.post(self._token_endpoint, data=self._token_form(), headers=self._token_headers())
                if not self._token_again(response, attempt):
                    break
            return self._accept_token(response)

    def token(self, *, force: bool = False) -> str:
        return str(self.token_response(force=force)["access_token"])

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """An authenticated API call; a 401 fetches a new token and retries once.

        ``content_factory``: a callable giving a fresh body (e.g. a streaming iterator)
        for each attempt, so that a streamed upload survives the retry.
        """
        if self._token_endpoint is None:
            self.discover()
        accept = kwargs.pop("accept", "application/xml")
        extra = kwargs.pop("headers", {})
        content_factory = kwargs.pop("content_factory", None)
        attempts, url = _Attempts(), f"{self.api_url}{path}"
        while True:
            if content_factory is not None:
                kwargs["content"] = content_factory()
            headers = {**extra, **self._headers(self.token(force=attempts.forced()), accept, method, url)}
            response = self._http.request(method, url, headers=headers, **kwargs)
            if not self._again(response, attempts):
                break
        if response.status_code >= 400:
            raise problem_from(response)
        return response

    def ping(self, name: str | None = None) -> PingResult:
        params = {"name": name} if name else None
        return _parse_ping(self.request("GET", "/pingMe", params=params))

    def submit(
        self, path: str | PathLike[str], *, idempotency_key: str | None = None, progress: Progress | None = None
    ) -> ImportStatus:
        """Send an import package (``POST /request``), streamed from the file with its
        ``Content-Digest``; returns the ``Pending`` import. ``progress(bytes_sent, total)``
        follows the upload. With ``idempotency_key``, sending again returns the first answer."""
        package = Path(path)
        digest = file_digest(package)
        response = self.request(
            "POST",
            "/request",
            headers=upload_headers(digest, idempotency_key),
            content_factory=lambda: file_body(package, digest, progress),
        )
        return self._submitted(response, digest)

    def import_status(self, import_id: str) -> ImportStatus:
        """``GET /request/import/{importId}`` (conditional)."""
        path = self._import_path(import_id)
        return self._conditional(path, self.request("GET", path, headers=self._if_none_match(path)), _import_status_of)

    def request_status(self, srn: str) -> RequestStatus:
        """``GET /request/{srn}``: the service request's status (conditional)."""
        path = self._request_path(srn)
        return self._conditional(path, self.request("GET", path, headers=self._if_none_match(path)), _request_status_of)

    def wait_for_import(
        self, import_id: str, *, timeout: float = DEFAULT_TIMEOUT, poll: float = DEFAULT_POLL, max_poll: float = DEFAULT_MAX_POLL
    ) -> ImportStatus:
        """Poll until the import is ``Imported`` or ``Rejected``; :class:`ImportTimeout` after
        ``timeout`` seconds. Delays grow from ``poll`` to ``max_poll`` and are never shorter
        than the server's ``Retry-After``; network errors, 429 and 502-504 are polled through."""
        schedule = PollSchedule(timeout, self._monotonic(), poll, max_poll)
        last: ImportStatus | None = None
        while True:
            retry_after, error = None, None
            try:
                last = self.import_status(import_id)
                if last.finished:
                    return last
                retry_after = last.retry_after
            except (APIError, httpx.TransportError) as exc:
                if not transient(exc):
                    raise
                error = exc
            delay = schedule.next_delay(self._monotonic(), retry_after)
            if delay is None:
                raise ImportTimeout(import_id, timeout, last, error) from error
            self._sleep(delay)

    # ----------------------------------------------------------------- publication

    @contextmanager
    def stream(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        accept: str = "application/xml",
        problem: Callable[[httpx.Response], APIError] = problem_from,
        **kwargs: Any,
    ) -> Iterator[httpx.Response]:
        """An authenticated call whose body is read as a stream (``iter_raw``); like
        :meth:`request`, a 401 fetches a new token and retries once, and an answer
        >= 400 raises ``problem(response)``."""
        if self._token_endpoint is None:
            self.discover()
        attempts, url = _Attempts(), f"{self.api_url}{path}"
        while True:
            sent = {**(headers or {}), **self._headers(self.token(force=attempts.forced()), accept, method, url)}
            request = self._http.build_request(method, url, headers=sent, **kwargs)
            response = self._http.send(request, stream=True)
            if not self._again(response, attempts):
                break
            response.close()
        try:
            if response.status_code >= 400:
                response.read()
                raise problem(response)
            yield response
        finally:
            response.close()

    @contextmanager
    def _redirected(self, response: httpx.Response, transfer: Transfer) -> Iterator[httpx.Response]:
        """The response itself, or where its redirect points (a presigned object-store URL),
        fetched without the access token."""
        target = _redirect_target(response)
        if target is None:
            yield response
            return
        with self._http.stream("GET", target, headers=transfer.redirect_headers()) as redirected:
            if redirected.status_code >= 400:
                redirected.read()
                raise _storage_error(redirected)
            yield redirected

    def office(self) -> str:
        """The caller's office code (asked once of ``/pingMe``)."""
        if self._office is None:
            self._office = self.ping().office
        return self._office

    def download_bulletin(self, week: str, dest_dir: str | PathLike[str], *, progress: Progress | None = None) -> DownloadResult:
        """Download the bulletin of ISO week ``week`` (``yyyyww``) into ``dest_dir`` as
        ``bulletin-<week>.zip``: resumable (``.part`` file + ``Range``/``If-Range``),
        verified against ``Repr-Digest`` before it is moved into place, skipped when the
        same file is already there. ``progress(bytes, total)`` follows the transfer.

        Raises :class:`~hws.client.downloads.NotYetPublished` (with ``retry_after``),
        :class:`~hws.client.downloads.NothingPublished`,
        :class:`~hws.client.downloads.DigestMismatch`, :class:`APIError`."""
        return self.download("bulletin", week, dest_dir, progress=progress)

    def download_confidential(
        self, week: str, dest_dir: str | PathLike[str], *, progress: Progress | None = None
    ) -> DownloadResult:
        """Your office's confidential copy of ``week``, as ``confidential-<office>-<week>.zip``
        (examining offices only: 403 ``not-examining`` otherwise). See :meth:`download_bulletin`."""
        return self.download("confidential", week, dest_dir, progress=progress)

    def download(
        self, kind: str, week: str, dest_dir: str | PathLike[str], *, progress: Progress | None = None
    ) -> DownloadResult:
        """``kind``: ``bulletin`` or ``confidential``; see :meth:`download_bulletin`."""
        week = Week.parse(week).id
        if kind == CONFIDENTIAL:
            self.office()
        transfer = self._transfer(kind, week, dest_dir, progress)
        for attempt in range(2):
            headers = transfer.prepare()
            try:
                with (
                    self.stream(
                        "GET",
                        endpoint(kind, week),
                        headers=headers,
                        accept=ACCEPT_ZIP,
                        problem=self._publication_problem(kind, week),
                    ) as first,
                    self._redirected(first, transfer) as response,
                ):
                    try:
                        if transfer.begin(response, announced=first.headers if response is not first else None):
                            for chunk in response.iter_raw():
                                transfer.write(chunk)
                        return transfer.finish()
                    finally:
                        transfer.abort()
            except RangeNotSatisfiable as exc:
                if not transfer.offset or attempt:
                    raise
                # the part is as long as the file or longer: complete, or start again
                if (done := transfer.complete_part(exc.size)) is not None:
                    return done
        raise AssertionError("unreachable")  # pragma: no cover

    def list_bulletins(self) -> list[Publication]:
        """The published bulletins (newest first): week, size, sha256, counts, URL."""
        return self.list_publications("bulletin")

    def list_confidential(self) -> list[Publication]:
        """Your office's published confidential copies (examining offices only)."""
        return self.list_publications("confidential")

    def list_publications(self, kind: str) -> list[Publication]:
        return parse_publication_list(self.request("GET", endpoint(kind)).content)

    def backfill(
        self,
        kind: str,
        since_week: str,
        dest_dir: str | PathLike[str],
        *,
        until_week: str | None = None,
        progress: BackfillProgress | None = None,
        on_result: Callable[[DownloadResult], None] | None = None,
    ) -> list[DownloadResult]:
        """Download every published week of ``kind`` from ``since_week`` to the newest (or
        ``until_week``), oldest first, from the list endpoint; weeks with nothing
        published are skipped, files already there are skipped, part files are resumed.
        ``progress(week, bytes, total)``; ``on_result(result)`` after each week."""
        results = []
        for week in backfill_weeks(self.list_publications(kind), since_week, until_week):
            try:
                result = self.download(kind, week, dest_dir, progress=week_progress(progress, week))
            except NothingPublished:
                continue
            results.append(result)
            if on_result:
                on_result(result)
        return results

    def events(
        self,
        *,
        cursor: str | None = None,
        cursor_file: str | PathLike[str] | None = None,
        wait: float = 30.0,
        limit: int = 100,
        until_idle: bool = False,
    ) -> Iterator[FeedEvent]:
        """The office's events in order from the feed (``GET /events``, long-polling ``wait``
        seconds), resuming after ``cursor``, else the one in ``cursor_file`` (kept up to date
        there), else where the service last saw this client acknowledge; forever, or until
        the feed has nothing more when ``until_idle`` (see :mod:`hws.client.events`)."""
        return follow(
            self.request, self._sleep, cursor=cursor, cursor_file=cursor_file, wait=wait, limit=limit, until_idle=until_idle
        )


class AsyncHagueClient(_Base):
    """Asynchronous twin of :class:`HagueClient` (``async with``)."""

    def __init__(
        self,
        *,
        http: httpx.AsyncClient | None = None,
        timeout: float = 30.0,
        verify: bool | str = True,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._http = http or httpx.AsyncClient(timeout=timeout, verify=verify, headers={"User-Agent": USER_AGENT})
        self._alock = asyncio.Lock()
        self._sleep = sleep

    @classmethod
    def from_profile(cls, name: str | None = None, **kwargs: Any) -> AsyncHagueClient:
        return cls(**cls._profile_kwargs(load_profile(name)), **kwargs)

    async def __aenter__(self) -> AsyncHagueClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def discover(self) -> dict[str, Any]:
        return self._discovered(await self._http.get(self.discovery_url))

    async def token_response(self, *, force: bool = False) -> dict[str, Any]:
        async with self._alock:
            if not force and (cached := self._cached()):
                return cached
            if self._token_endpoint is None:
                await self.discover()
            assert self._token_endpoint is not None
            for attempt in range(2):
                response = await self._http.post(self._token_endpoint, data=self._token_form(), headers=self._token_headers())
                if not self._token_again(response, attempt):
                    break
            return self._accept_token(response)

    async def token(self, *, force: bool = False) -> str:
        return str((await self.token_response(force=force))["access_token"])

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if self._token_endpoint is None:
            await self.discover()
        accept = kwargs.pop("accept", "application/xml")
        extra = kwargs.pop("headers", {})
        content_factory = kwargs.pop("content_factory", None)
        attempts, url = _Attempts(), f"{self.api_url}{path}"
        while True:
            if content_factory is not None:
                kwargs["content"] = content_factory()
            headers = {**extra, **self._headers(await self.token(force=attempts.forced()), accept, method, url)}
            response = await self._http.request(method, url, headers=headers, **kwargs)
            if not self._again(response, attempts):
                break
        if response.status_code >= 400:
            raise problem_from(response)
        return response

    async def ping(self, name: str | None = None) -> PingResult:
        params = {"name": name} if name else None
        return _parse_ping(await self.request("GET", "/pingMe", params=params))

    async def submit(
        self, path: str | PathLike[str], *, idempotency_key: str | None = None, progress: Progress | None = None
    ) -> ImportStatus:
        """See :meth:`HagueClient.submit`; the file is read off the event loop."""
        package = Path(path)
        digest = await asyncio.to_thread(file_digest, package)
        response = await self.request(
            "POST",
            "/request",
            headers=upload_headers(digest, idempotency_key),
            content_factory=lambda: async_file_body(package, digest, progress),
        )
        return self._submitted(response, digest)

    async def import_status(self, import_id: str) -> ImportStatus:
        path = self._import_path(import_id)
        response = await self.request("GET", path, headers=self._if_none_match(path))
        return self._conditional(path, response, _import_status_of)

    async def request_status(self, srn: str) -> RequestStatus:
        path = self._request_path(srn)
        response = await self.request("GET", path, headers=self._if_none_match(path))
        return self._conditional(path, response, _request_status_of)

    async def wait_for_import(
        self, import_id: str, *, timeout: float = DEFAULT_TIMEOUT, poll: float = DEFAULT_POLL, max_poll: float = DEFAULT_MAX_POLL
    ) -> ImportStatus:
        """See :meth:`HagueClient.wait_for_import`."""
        schedule = PollSchedule(timeout, self._monotonic(), poll, max_poll)
        last: ImportStatus | None = None
        while True:
            retry_after, error = None, None
            try:
                last = await self.import_status(import_id)
                if last.finished:
                    return last
                retry_after = last.retry_after
            except (APIError, httpx.TransportError) as exc:
                if not transient(exc):
                    raise
                error = exc
            delay = schedule.next_delay(self._monotonic(), retry_after)
            if delay is None:
                raise ImportTimeout(import_id, timeout, last, error) from error
            await self._sleep(delay)

    # ----------------------------------------------------------------- publication

    @asynccontextmanager
    async def stream(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        accept: str = "application/xml",
        problem: Callable[[httpx.Response], APIError] = problem_from,
        **kwargs: Any,
    ) -> AsyncIterator[httpx.Response]:
        """See :meth:`HagueClient.stream` (``aiter_raw``)."""
        if self._token_endpoint is None:
            await self.discover()
        attempts, url = _Attempts(), f"{self.api_url}{path}"
        while True:
            sent = {**(headers or {}), **self._headers(await self.token(force=attempts.forced()), accept, method, url)}
            request = self._http.build_request(method, url, headers=sent, **kwargs)
            response = await self._http.send(request, stream=True)
            if not self._again(response, attempts):
                break
            await response.aclose()
        try:
            if response.status_code >= 400:
                await response.aread()
                raise problem(response)
            yield response
        finally:
            await response.aclose()

    @asynccontextmanager
    async def _redirected(self, response: httpx.Response, transfer: Transfer) -> AsyncIterator[httpx.Response]:
        target = _redirect_target(response)
        if target is None:
            yield response
            return
        async with self._http.stream("GET", target, headers=transfer.redirect_headers()) as redirected:
            if redirected.status_code >= 400:
                await redirected.aread()
                raise _storage_error(redirected)
            yield redirected

    async def office(self) -> str:
        if self._office is None:
            self._office = (await self.ping()).office
        return self._office

    async def download_bulletin(
        self, week: str, dest_dir: str | PathLike[str], *, progress: Progress | None = None
    ) -> DownloadResult:
        """See :meth:`HagueClient.download_bulletin`; file work runs off the event loop,
        ``progress`` is called on it."""
        return await self.download("bulletin", week, dest_dir, progress=progress)

    async def download_confidential(
        self, week: str, dest_dir: str | PathLike[str], *, progress: Progress | None = None
    ) -> DownloadResult:
        return await self.download("confidential", week, dest_dir, progress=progress)

    async def download(
        self, kind: str, week: str, dest_dir: str | PathLike[str], *, progress: Progress | None = None
    ) -> DownloadResult:
        week = Week.parse(week).id
        if kind == CONFIDENTIAL:
            await self.office()
        transfer = self._transfer(kind, week, dest_dir, None)
        for attempt in range(2):
            headers = await asyncio.to_thread(transfer.prepare)
            try:
                async with (
                    self.stream(
                        "GET",
                        endpoint(kind, week),
                        headers=headers,
                        accept=ACCEPT_ZIP,
                        problem=self._publication_problem(kind, week),
                    ) as first,
                    self._redirected(first, transfer) as response,
                ):
                    try:
                        announced = first.headers if response is not first else None
                        if await asyncio.to_thread(transfer.begin, response, announced):
                            if progress:
                                progress(*transfer.done)
                            async for chunk in response.aiter_raw():
                                await asyncio.to_thread(transfer.write, chunk)
                                if progress:
                                    progress(*transfer.done)
                        elif progress:
                            progress(*transfer.done)
                        return await asyncio.to_thread(transfer.finish)
                    finally:
                        transfer.abort()
            except RangeNotSatisfiable as exc:
                if not transfer.offset or attempt:
                    raise
                if (done := await asyncio.to_thread(transfer.complete_part, exc.size)) is not None:
                    if progress:
                        progress(*transfer.done)
                    return done
        raise AssertionError("unreachable")  # pragma: no cover

    async def list_bulletins(self) -> list[Publication]:
        return await self.list_publications("bulletin")

    async def list_confidential(self) -> list[Publication]:
        return await self.list_publications("confidential")

    async def list_publications(self, kind: str) -> list[Publication]:
        return parse_publication_list((await self.request("GET", endpoint(kind))).content)

    async def backfill(
        self,
        kind: str,
        since_week: str,
        dest_dir: str | PathLike[str],
        *,
        until_week: str | None = None,
        progress: BackfillProgress | None = None,
        on_result: Callable[[DownloadResult], None] | None = None,
    ) -> list[DownloadResult]:
        """See :meth:`HagueClient.backfill` (one week after the other)."""
        results = []
        for week in backfill_weeks(await self.list_publications(kind), since_week, until_week):
            try:
                result = await self.download(kind, week, dest_dir, progress=week_progress(progress, week))
            except NothingPublished:
                continue
            results.append(result)
            if on_result:
                on_result(result)
        return results

    def events(
        self,
        *,
        cursor: str | None = None,
        cursor_file: str | PathLike[str] | None = None,
        wait: float = 30.0,
        limit: int = 100,
        until_idle: bool = False,
    ) -> AsyncIterator[FeedEvent]:
        """See :meth:`HagueClient.events` (``async for event in client.events(): …``)."""
        return afollow(
            self.request, self._sleep, cursor=cursor, cursor_file=cursor_file, wait=wait, limit=limit, until_idle=until_idle
        )
