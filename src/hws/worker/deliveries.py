"""Webhook senders: threads that deliver due webhook deliveries (``hws serve`` and
``hws worker``; ``HWS_WEBHOOK_DELIVERY_THREADS``). Woken at once when this process
records an event; otherwise they look every ``HWS_WORKER_POLL_INTERVAL`` seconds."""

from __future__ import annotations

import logging
import threading

from hws.service import Service
from hws.store.database import unavailable
from hws.store.jobs import worker_identity
from hws.usecases.webhooks import deliver
from hws.worker.webhook_sender import HttpxSender

log = logging.getLogger("hws.worker.webhooks")


class DeliveryPool:
    def __init__(self, service: Service, count: int) -> None:
        self.service = service
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, name=f"hws-webhooks-{i}", daemon=True) for i in range(count)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float | None = 30) -> None:
        self._stop.set()
        self.service.event_signal.ring()
        for thread in self._threads:
            thread.join(timeout)

    def _run(self) -> None:
        settings = self.service.settings
        owner = worker_identity()
        sender = HttpxSender(timeout=settings.webhook_timeout, max_response_bytes=settings.webhook_max_response_bytes)
        signal = self.service.event_signal
        poll = settings.worker_poll_interval
        try:
            while not self._stop.is_set():
                seen = signal.generation
                try:
                    tries = deliver(self.service, sender, owner)
                except Exception as exc:
                    if unavailable(exc):
                        log.warning("webhook sender waiting: database unavailable", extra={"event": "webhook.unavailable"})
                    else:
                        log.exception("webhook sender error", extra={"event": "webhook.error"})
                    self._stop.wait(min(poll * 4, 5))
                    continue
                if not tries:
                    signal.wait(seen, poll)
        finally:
            sender.close()
