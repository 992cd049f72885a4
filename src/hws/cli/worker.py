"""``hws worker``: job-runner processes beside the API processes."""

from __future__ import annotations

import signal
import sys
import threading

import typer

from hws import logs
from hws.config import Settings
from hws.service import build_service
from hws.worker.runner import Worker
from hws.worker.scheduler import Scheduler


def worker(
    threads: int = typer.Option(1, "--threads", min=1, max=32, help="Jobs run at once in this process."),
) -> None:
    """Run background jobs (validation, examination) and the scheduler (one leader among
    all processes: deadlines, weekly publication) until SIGTERM/SIGINT; running jobs finish first."""
    settings = Settings()
    logs.configure(settings.log_level, settings.log_format)
    service = build_service(settings)
    service.start()
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        sys.stderr.write(f"hws worker: signal {signum}, finishing running jobs\n")
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    runners = [threading.Thread(target=Worker(service).run_until, args=(stop,), name=f"hws-worker-{i}") for i in range(threads)]
    for runner in runners:
        runner.start()
    scheduler = Scheduler(service) if settings.scheduler else None
    if scheduler:
        scheduler.start()
    sys.stderr.write(
        f"hws worker: {threads} thread(s) on {settings.database_url.split('@')[-1] if settings.database_url else ''}\n"
    )
    for runner in runners:
        runner.join()
    if scheduler:
        scheduler.stop()
    service.close()
