"""Per-client rate limits and concurrency caps, so no office slows another down.

A token bucket per client (``HWS_RATE_LIMIT_PER_MINUTE``, burst ``HWS_RATE_LIMIT_BURST``)
and a cap on requests in progress (``HWS_MAX_CONCURRENT_PER_CLIENT``); token requests
are limited per source address (``HWS_TOKEN_RATE_PER_MINUTE``), the address that
:func:`hws.api.security.source_address` decides (the socket's peer unless it is a
trusted proxy: a forged ``X-Forwarded-For`` buys no fresh bucket). The counters live in
each API process's memory — safe by design: with N processes behind a load balancer a
client gets at most N times the configured rate, so configure the per-process share.

Refusals are 429 with ``Retry-After``; every limited response carries the IETF
``RateLimit-Policy`` and ``RateLimit`` headers (draft-ietf-httpapi-ratelimit-headers).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

STATE_KEY = "hws.admission"


@dataclass
class _Bucket:
    tokens: float
    updated: float
    in_flight: int = 0


@dataclass(frozen=True)
class Admission:
    key: str
    limiter: Limiter
    remaining: int
    reset: int

    def headers(self) -> list[tuple[bytes, bytes]]:
        policy = self.limiter.policy_name
        return [
            (b"ratelimit-policy", f'"{policy}";q={self.limiter.burst};w={self.limiter.window}'.encode()),
            (b"ratelimit", f'"{policy}";r={self.remaining};t={self.reset}'.encode()),
        ]


class Refused(Exception):
    def __init__(self, retry_after: int, reason: str, headers: list[tuple[bytes, bytes]]) -> None:
        super().__init__(reason)
        self.retry_after = retry_after
        self.reason = reason
        self.headers = headers


class Limiter:
    """Token buckets keyed by client (or address), plus an in-flight cap."""

    def __init__(
        self,
        *,
        per_minute: int,
        burst: int,
        max_concurrent: int = 0,
        policy_name: str = "per-client",
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = per_minute / 60.0
        self.burst = burst
        self.window = 60
        self.max_concurrent = max_concurrent
        self.policy_name = policy_name
        self._now = now
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] = {}

    @property
    def enabled(self) -> bool:
        return self.rate > 0 or self.max_concurrent > 0

    def admit(self, key: str) -> Admission:
        """Take one request's worth, or raise :class:`Refused`."""
        now = self._now()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(tokens=float(self.burst), updated=now)
            if self.rate > 0:
                bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
                bucket.updated = now
            reset = math.ceil((self.burst - bucket.tokens) / self.rate) if self.rate > 0 else 0
            if self.rate > 0 and bucket.tokens < 1:
                wait = math.ceil((1 - bucket.tokens) / self.rate)
                admission = Admission(key, self, 0, reset)
                raise Refused(
                    wait, f"more than {self.burst} requests at once or {int(self.rate * 60)} per minute", admission.headers()
                )
            if self.max_concurrent and bucket.in_flight >= self.max_concurrent:
                raise Refused(
                    1,
                    f"more than {self.max_concurrent} requests in progress at once",
                    Admission(key, self, int(bucket.tokens), reset).headers(),
                )
            if self.rate > 0:
                bucket.tokens -= 1
            bucket.in_flight += 1
            if len(self._buckets) > 10_000:
                self._forget_idle(now)
            return Admission(key, self, int(bucket.tokens), reset)

    def release(self, key: str) -> None:
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket and bucket.in_flight:
                bucket.in_flight -= 1

    def _forget_idle(self, now: float) -> None:
        full = [k for k, b in self._buckets.items() if not b.in_flight and b.tokens + (now - b.updated) * self.rate >= self.burst]
        for key in full:
            del self._buckets[key]


class RateLimitMiddleware:
    """Adds the RateLimit headers of an admitted request and frees its slot when the
    response is done (admission happens after authentication, in the route's
    dependency, which records it in the request state)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                admission = scope.get("state", {}).get(STATE_KEY)
                if admission is not None:
                    message["headers"] = [*message.get("headers", []), *admission.headers()]
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            admission = scope.get("state", {}).get(STATE_KEY)
            if admission is not None:
                admission.limiter.release(admission.key)
