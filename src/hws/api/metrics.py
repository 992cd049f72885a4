"""Prometheus metrics and the middleware that counts requests; the job queue's gauges,
read from the database when ``/metrics`` is scraped (docs/metrics.md lists every metric)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import Counter, Histogram
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hws.store.jobs import BACKLOG_STATES, Backlog, JobKind

log = logging.getLogger("hws.api")

REQUESTS = Counter("hws_http_requests_total", "HTTP requests answered", ["method", "route", "status"])
LATENCY = Histogram(
    "hws_http_request_duration_seconds",
    "HTTP request latency",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
TOKEN_OUTCOMES = Counter("hws_token_requests_total", "Token endpoint outcomes", ["outcome"])
#: labelled with the client's registered id only once it is authenticated (never a value a
#: caller chose, never a token or a secret): one series per enrolled client
TOKENS_ISSUED = Counter("hws_tokens_issued_total", "Access tokens issued, by client", ["client_id"])


class Children:
    """A labelled metric's children, looked up once per label values: prometheus_client's
    ``labels()`` checks its arguments and takes a lock on every call (about 10 µs; two or
    three of them on every request), this is one dictionary look-up. The children are
    prometheus_client's own, so the exposition is unchanged; there are as many as the
    labels' values (routes, statuses, enrolled clients), as there are in the registry."""

    __slots__ = ("_children", "_metric")

    def __init__(self, metric: Counter | Histogram) -> None:
        self._metric = metric
        self._children: dict[tuple[str, ...], Any] = {}

    def __call__(self, *values: str) -> Any:
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self._metric.labels(*values)
        return child


REQUESTS_BY = Children(REQUESTS)
LATENCY_BY = Children(LATENCY)
TOKENS_ISSUED_BY = Children(TOKENS_ISSUED)


class JobQueueCollector(Collector):
    """The job queue's gauges, computed each time they are collected by ``read`` (one
    grouped query: :meth:`hws.store.jobs.JobQueue.backlog`). The database is the truth
    every process shares, so these are never summed across processes: ``/metrics``
    collects them afresh for each scrape from the service that answers it.

    While the database does not answer, only ``hws_job_queue_up 0`` is reported (the
    scrape itself still succeeds)."""

    def __init__(self, read: Callable[[], Backlog]) -> None:
        self._read = read

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("hws_job_queue_up", "1 if the job queue could be read from the database for this scrape")
        try:
            backlog = self._read()
        except Exception as exc:  # the database is out: /metrics still answers
            log.warning("job queue not readable for /metrics", extra={"event": "metrics.queue_unreadable",
                        "error": f"{type(exc).__name__}: {str(exc)[:200]}"})  # fmt: skip
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        kinds = sorted({str(k) for k in JobKind} | {kind for kind, _ in backlog.counts})
        depth = GaugeMetricFamily(
            "hws_job_queue_depth", "Jobs in the queue by kind and state (pending, leased, dead)", labels=["kind", "state"]
        )
        for kind in kinds:
            for state in BACKLOG_STATES.values():
                depth.add_metric([kind, state], backlog.counts.get((kind, state), 0))
        yield depth
        oldest = GaugeMetricFamily(
            "hws_job_queue_oldest_pending_age_seconds",
            "How long the pending job of this kind that became due first has waited (0: none waiting)",
            labels=["kind"],
        )
        for kind in kinds:
            oldest.add_metric([kind], backlog.oldest_pending_seconds.get(kind, 0.0))
        yield oldest
        dead = GaugeMetricFamily("hws_job_queue_dead_jobs", "Jobs given up after their last attempt (all kinds)")
        dead.add_metric([], sum(n for (_, state), n in backlog.counts.items() if state == "dead"))
        yield dead


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
        REQUESTS_BY(method, template, str(self.status)).inc()
        LATENCY_BY(template).observe(time.perf_counter() - self.start)


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
