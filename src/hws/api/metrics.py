"""Prometheus metrics and the middleware that counts requests."""

from __future__ import annotations

import time

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUESTS = Counter("hws_http_requests_total", "HTTP requests answered", ["method", "route", "status"])
LATENCY = Histogram(
    "hws_http_request_duration_seconds",
    "HTTP request latency",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
TOKEN_OUTCOMES = Counter("hws_token_requests_total", "Token endpoint outcomes", ["outcome"])


class Observed:
    """One request as it is answered: the status sent (500 until a response starts) and,
    when done, its count and latency (shared by the middleware and the token fast path)."""

    __slots__ = ("_send", "start", "status")

    def __init__(self, send: Send) -> None:
        self._send = send
        self.start = time.perf_counter()
        self.status = 500

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        await self._send(message)

    def record(self, method: str, template: str) -> None:
        REQUESTS.labels(method, template, str(self.status)).inc()
        LATENCY.labels(template).observe(time.perf_counter() - self.start)


class MetricsMiddleware:
    """Pure ASGI middleware (no body buffering): route template, status, duration."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        observed = Observed(send)
        try:
            await self.app(scope, receive, observed.send)
        finally:
            route = scope.get("route")
            observed.record(scope["method"], getattr(route, "path", None) or "unmatched")
