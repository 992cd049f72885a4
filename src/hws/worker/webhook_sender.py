"""Posting a webhook delivery over HTTP (httpx): to the address the use case checked
(the URL's host is kept for ``Host`` and TLS: SNI and the certificate check), never
following a redirect, within a time limit for the whole exchange and reading at most
``HWS_WEBHOOK_MAX_RESPONSE_BYTES`` of the answer (no proxy from the environment)."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

import httpx

from hws import __version__
from hws.domain.webhook_policy import IPAddress
from hws.usecases.webhooks import Outcome

USER_AGENT = f"hws-webhooks/{__version__}"


class HttpxSender:
    def __init__(self, *, timeout: float, max_response_bytes: int) -> None:
        self._timeout = timeout
        self._max_response = max_response_bytes
        self._http = httpx.Client(
            follow_redirects=False,
            trust_env=False,
            timeout=httpx.Timeout(timeout),
            headers={"User-Agent": USER_AGENT},
            limits=httpx.Limits(max_keepalive_connections=0),
        )

    def close(self) -> None:
        self._http.close()

    @staticmethod
    def pinned(url: str, address: IPAddress) -> tuple[str, str, str]:
        """The URL with the address in place of the host, the Host header, the TLS server name."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        literal = f"[{address}]" if isinstance(address, ipaddress.IPv6Address) else str(address)
        netloc = literal + (f":{parts.port}" if parts.port else "")
        host_header = parts.netloc.rpartition("@")[2]
        return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, "")), host_header, host

    def send(self, url: str, address: IPAddress, headers: Mapping[str, str], body: bytes) -> Outcome:
        target, host_header, server_name = self.pinned(url, address)
        started = time.monotonic()
        try:
            request = self._http.build_request(
                "POST", target, content=body, headers={**headers, "Host": host_header},
                extensions={"sni_hostname": server_name},
            )  # fmt: skip
            response = self._http.send(request, stream=True)
            try:
                read = 0
                for chunk in response.iter_raw():
                    read += len(chunk)
                    if read >= self._max_response or time.monotonic() - started > self._timeout:
                        break
            finally:
                response.close()
        except httpx.TimeoutException as exc:
            return Outcome(None, f"timed out ({type(exc).__name__})")
        except httpx.HTTPError as exc:
            return Outcome(None, f"{type(exc).__name__}: {str(exc)[:300]}")
        if time.monotonic() - started > self._timeout:
            return Outcome(None, f"the answer took longer than {self._timeout:g} s")
        if response.is_redirect:
            where = response.headers.get("location", "")
            return Outcome(response.status_code, f"redirect ({response.status_code}) to {where[:200]!r} not followed")
        return Outcome(response.status_code)
