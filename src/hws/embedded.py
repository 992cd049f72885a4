"""The embedded mode `hws serve` runs: the API, job runners and the weekly scheduler in one
process (each API process, with ``--workers N``). ``hws worker`` runs the last two alone."""

from __future__ import annotations

from fastapi import FastAPI

from hws import logs
from hws.api.app import Background, create_app
from hws.config import Settings
from hws.service import Service, build_service
from hws.worker.deliveries import DeliveryPool
from hws.worker.runner import WorkerPool
from hws.worker.scheduler import Scheduler


def embedded_app(service: Service, *, workers: int | None = None) -> FastAPI:
    """The API with ``workers`` job-runner threads (default: the setting) and, if the
    settings say so, the scheduler."""
    settings = service.settings
    threads = settings.worker_threads if workers is None else workers
    background: list[Background] = [WorkerPool(service, threads)]
    if threads and settings.webhook_delivery_threads:  # an API-only process sends no webhooks either
        background.append(DeliveryPool(service, settings.webhook_delivery_threads))
    if settings.scheduler:
        background.append(Scheduler(service))
    return create_app(service, background=background)


def app_from_environment() -> FastAPI:
    """Factory for ASGI servers (``uvicorn --factory hws.embedded:app_from_environment``),
    run in each API process of ``hws serve --workers N``: logging is configured here as
    ``hws serve`` does for its own process."""
    settings = Settings()
    logs.configure(settings.log_level, settings.log_format)
    service = build_service(settings)
    service.start()
    return embedded_app(service)
