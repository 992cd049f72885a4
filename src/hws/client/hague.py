"""``HagueClient`` and ``AsyncHagueClient``: the office kit's API client.

Both discover the token endpoint, sign a fresh assertion for every token request,
cache the access token until shortly before it expires, and on a 401 from the API
fetch a new token and retry once.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from hws import __version__, jws
from hws.client.assertion import sign_client_assertion
from hws.client.enrolment import load_private_key
from hws.client.errors import APIError, HWSError, ProblemEntry, TokenError
from hws.client.profile import Profile
from hws.client.profile import load as load_profile
from hws.st96 import safexml
from hws.st96.namespaces import HWS, PROBLEM

API_PATH = "/webservices/api/v1"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
REFRESH_MARGIN = 60.0
USER_AGENT = f"hws-office-kit/{__version__}"


@dataclass(frozen=True)
class PingResult:
    message: str
    client_id: str
    office: str
    timestamp: str


def _text(root: Any, tag: str) -> str:
    element = root.find(tag)
    return (element.text or "") if element is not None else ""


def problem_from(response: httpx.Response) -> APIError:
    """Read an RFC 9457 problem (XML or JSON) into an :class:`APIError`."""
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
            root = safexml.parse(response.content).getroot()
            p = f"{{{PROBLEM}}}"
            entries = [
                ProblemEntry(_text(i, f"{p}code"), _text(i, f"{p}detail"), _text(i, f"{p}pointer") or None)
                for i in root.iterfind(f"{p}errors/{p}i")
            ]
            return APIError(
                response.status_code, _text(root, f"{p}code"), _text(root, f"{p}title"), _text(root, f"{p}detail"), entries
            )
    except (ValueError, safexml.XMLRejected):
        pass
    return APIError(response.status_code, "http-error", response.reason_phrase, response.text[:500])


def _parse_ping(response: httpx.Response) -> PingResult:
    root = safexml.parse(response.content).getroot()
    h = f"{{{HWS}}}"
    return PingResult(
        _text(root, f"{h}Message"),
        _text(root, f"{h}ClientIdentifier"),
        _text(root, f"{h}OfficeCode"),
        _text(root, f"{h}ResponseDateTime"),
    )


class _Base:
    """What the sync and async clients share: configuration and the token cache."""

    def __init__(
        self,
        *,
        issuer: str,
        client_id: str,
        private_key: jws.PrivateKey | str | Path,
        api_url: str | None = None,
        scope: str | None = None,
        audience: str = "issuer",
        token_endpoint: str | None = None,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self._key = load_private_key(Path(private_key)) if isinstance(private_key, str | Path) else private_key
        self._api_url = api_url.rstrip("/") if api_url else None
        self.scope = scope
        if audience not in ("issuer", "token_endpoint"):
            raise ValueError("audience must be 'issuer' or 'token_endpoint'")
        self.audience = audience
        self._token_endpoint = token_endpoint
        self._token: dict[str, Any] | None = None
        self._token_expires = 0.0
        self._lock = threading.Lock()

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
        }

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    def _use_discovery(self, document: dict[str, Any]) -> None:
        endpoint = document.get("token_endpoint")
        if not isinstance(endpoint, str):
            raise HWSError(f"{self.discovery_url} names no token_endpoint")
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
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200 or "access_token" not in body:
            raise TokenError(response.status_code, str(body.get("error", "http-error")), str(body.get("error_description", response.reason_phrase)))
        self._token = body
        self._token_expires = time.monotonic() + float(body.get("expires_in", 3600))
        return body

    def _cached(self) -> dict[str, Any] | None:
        if self._token and time.monotonic() < self._token_expires - REFRESH_MARGIN:
            return self._token
        return None

    def _headers(self, token: str, accept: str = "application/xml") -> dict[str, str]:
        return {"Authorization": f"Bearer {token}", "Accept": accept}

    def forget_token(self) -> None:
        self._token = None
        self._token_expires = 0.0


class HagueClient(_Base):
    """Synchronous client. Use as a context manager, or call :meth:`close`."""

    def __init__(self, *, http: httpx.Client | None = None, timeout: float = 30.0, verify: bool | str = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._http = http or httpx.Client(timeout=timeout, verify=verify, headers={"User-Agent": USER_AGENT})

    @classmethod
    def from_profile(cls, name: str | None = None, **kwargs: Any) -> "HagueClient":
        return cls(**cls._profile_kwargs(load_profile(name)), **kwargs)

    def __enter__(self) -> "HagueClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def discover(self) -> dict[str, Any]:
        response = self._http.get(self.discovery_url)
        if response.status_code != 200:
            raise HWSError(f"discovery failed: {self.discovery_url} answered {response.status_code}")
        document = response.json()
        self._use_discovery(document)
        return document  # type: ignore[no-any-return]

    def token_response(self, *, force: bool = False) -> dict[str, Any]:
        """The whole token response (cached until shortly before it expires)."""
        with self._lock:
            if not force and (cached := self._cached()):
                return cached
            if self._token_endpoint is None:
                self.discover()
            assert self._token_endpoint is not None
            return self._accept_token(self._http.post(self._token_endpoint, data=self._token_form()))

    def token(self, *, force: bool = False) -> str:
        return str(self.token_response(force=force)["access_token"])

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """An authenticated API call; a 401 fetches a new token and retries once."""
        if self._token_endpoint is None:
            self.discover()
        accept = kwargs.pop("accept", "application/xml")
        extra = kwargs.pop("headers", {})
        for attempt in range(2):
            headers = {**extra, **self._headers(self.token(force=attempt > 0), accept)}
            response = self._http.request(method, f"{self.api_url}{path}", headers=headers, **kwargs)
            if response.status_code != 401 or attempt:
                break
            self.forget_token()
        if response.status_code >= 400:
            raise problem_from(response)
        return response

    def ping(self, name: str | None = None) -> PingResult:
        params = {"name": name} if name else None
        return _parse_ping(self.request("GET", "/pingMe", params=params))


class AsyncHagueClient(_Base):
    """Asynchronous twin of :class:`HagueClient` (``async with``)."""

    def __init__(
        self, *, http: httpx.AsyncClient | None = None, timeout: float = 30.0, verify: bool | str = True, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self._http = http or httpx.AsyncClient(timeout=timeout, verify=verify, headers={"User-Agent": USER_AGENT})
        self._alock = asyncio.Lock()

    @classmethod
    def from_profile(cls, name: str | None = None, **kwargs: Any) -> "AsyncHagueClient":
        return cls(**cls._profile_kwargs(load_profile(name)), **kwargs)

    async def __aenter__(self) -> "AsyncHagueClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def discover(self) -> dict[str, Any]:
        response = await self._http.get(self.discovery_url)
        if response.status_code != 200:
            raise HWSError(f"discovery failed: {self.discovery_url} answered {response.status_code}")
        document = response.json()
        self._use_discovery(document)
        return document  # type: ignore[no-any-return]

    async def token_response(self, *, force: bool = False) -> dict[str, Any]:
        async with self._alock:
            if not force and (cached := self._cached()):
                return cached
            if self._token_endpoint is None:
                await self.discover()
            assert self._token_endpoint is not None
            return self._accept_token(await self._http.post(self._token_endpoint, data=self._token_form()))

    async def token(self, *, force: bool = False) -> str:
        return str((await self.token_response(force=force))["access_token"])

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if self._token_endpoint is None:
            await self.discover()
        accept = kwargs.pop("accept", "application/xml")
        extra = kwargs.pop("headers", {})
        for attempt in range(2):
            headers = {**extra, **self._headers(await self.token(force=attempt > 0), accept)}
            response = await self._http.request(method, f"{self.api_url}{path}", headers=headers, **kwargs)
            if response.status_code != 401 or attempt:
                break
            self.forget_token()
        if response.status_code >= 400:
            raise problem_from(response)
        return response

    async def ping(self, name: str | None = None) -> PingResult:
        params = {"name": name} if name else None
        return _parse_ping(await self.request("GET", "/pingMe", params=params))
