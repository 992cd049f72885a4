"""``hws worker``: job-runner processes beside the API processes."""

from __future__ import annotations

import signal
import sys
import threading

import typer
from prometheus_client import start_http_server

from hws import logs
from hws.config import Settings
from hws.service import build_service
from hws.worker.deliveries import DeliveryPool
from hws.worker.runner import WorkerPool
from hws.worker.scheduler import Scheduler


def worker(
    threads: int = typer.Option(1, "--threads", min=1, max=32, help="Jobs run at once in this process."),
    metrics_port: int | None = typer.Option(
        None,
        "--metrics-port",
        min=1,
        max=65535,
        help="Serve this process's Prometheus metrics (imports, transitions, publications) on this port.",
    ),
    metrics_host: str = typer.Option("127.0.0.1", "--metrics-host", help="Address the --metrics-port listens on."),
) -> None:
    """Run background jobs (validation, examination) and the scheduler (one leader among
    all processes: deadlines, weekly publication) until SIGTERM/SIGINT; running jobs finish first."""
    settings = Settings()
    logs.configure(settings.log_level, settings.log_format)
    service = build_service(settings)
    service.start()
    if metrics_port is not None:
        # The counters of the jobs this process runs (docs/metrics.md); the job queue's
        # gauges come from the database through any API process's /metrics.
        start_http_server(metrics_port, addr=metrics_host)
        sys.stderr.write(f"hws worker: metrics on http://{metrics_host}:{metrics_port}/metrics\n")
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        sys.stderr.write(f"hws worker: signal {signum}, finishing running jobs\n")
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    pool = WorkerPool(service, threads)  # on PostgreSQL it also listens for jobs queued by API processes
    pool.start()
    scheduler = Scheduler(service) if settings.scheduler else None
    if scheduler:
        scheduler.start()
    senders = DeliveryPool(service, settings.webhook_delivery_threads)  # webhook deliveries
    senders.start()
    sys.stderr.write(
        f"hws worker: {threads} thread(s) on {settings.database_url.split('@')[-1] if settings.database_url else ''}\n"
    )
    while not stop.wait(1.0):  # woken by the signal handler
        pass
    pool.stop(timeout=None)  # running jobs finish first
    senders.stop()
    if scheduler:
        scheduler.stop()
    service.close()
