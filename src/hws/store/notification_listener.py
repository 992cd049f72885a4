"""One thread that ``LISTEN``s on a PostgreSQL channel with a connection of its own, and
keeps listening: a lost connection is opened again with a doubling backoff, a quiet
channel is checked every few seconds. What a notification means is its subclass's
(:class:`hws.store.change_feed.ChangeFeed`, :class:`hws.store.job_signal.JobListener`).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from sqlalchemy import Engine

from hws.store.database import notification_connection


class Unusable(Exception):
    """The database cannot serve this listener until an operator acts (e.g. a migration
    not applied): tried again after ``max_retry_seconds``, with ``state`` ``off: …``."""


class NotificationListener:
    #: the channel, the connection's ``application_name``, the thread's name
    channel = ""
    application_name = ""
    thread_name = ""
    #: :attr:`state` while listening
    listening_state = "listening"
    #: ``event`` of the log lines: connection down or lost / the database cannot serve
    down_event = ""
    off_event = ""

    def __init__(self, engine: Engine, *, retry_seconds: float = 1.0, max_retry_seconds: float = 30.0) -> None:
        if engine.dialect.name != "postgresql":
            raise ValueError(f"{self.channel} notifications need PostgreSQL")
        self.engine = engine
        self.retry_seconds = retry_seconds
        self.max_retry_seconds = max_retry_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._connection: Any = None
        #: for operators (``/readyz`` details): stopped, connecting, <listening_state>, down: …, off: …
        self.state = "stopped"
        self._log = logging.getLogger(type(self).__module__)

    # Hooks ------------------------------------------------------------------------

    def _check(self, connection: Any) -> None:
        """Before ``LISTEN``: raise :class:`Unusable` when the database cannot serve."""

    def _listening(self) -> None:
        """Connected and listening (again)."""

    def _heard(self, payload: str) -> None:
        """One notification."""

    def _not_listening(self) -> None:
        """The connection is gone (lost or stopped)."""

    # Lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self.state = "connecting"
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        connection = self._connection
        if connection is not None:
            try:
                connection.cancel_safe(timeout=1.0)  # wakes notifies()
            except Exception:  # best effort on the way out
                pass
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.state = "stopped"

    # The thread -------------------------------------------------------------------

    def _connect(self) -> Any:
        connection = notification_connection(self.engine, self.application_name)
        try:
            self._check(connection)
        except BaseException:
            connection.close()
            raise
        connection.execute(f"LISTEN {self.channel}")
        return connection

    def _run(self) -> None:
        delay = self.retry_seconds
        while not self._stop.is_set():
            try:
                self._connection = self._connect()
            except Unusable as exc:
                self.state = f"off: {exc}"
                self._log.warning("%s off: %s", self.thread_name, exc, extra={"event": self.off_event})
                self._stop.wait(self.max_retry_seconds)
                continue
            except Exception as exc:  # the database may be down: retry
                self.state = f"down: {type(exc).__name__}"
                self._log.info("%s cannot connect: %s", self.thread_name, exc, extra={"event": self.down_event})
                self._stop.wait(delay)
                delay = min(delay * 2, self.max_retry_seconds)
                continue
            delay = self.retry_seconds
            self.state = self.listening_state
            self._listening()
            try:
                while not self._stop.is_set():
                    for note in self._connection.notifies(timeout=5.0):
                        self._heard(note.payload)
                    if not self._stop.is_set():
                        self._connection.execute("SELECT 1")  # a quiet channel: is the connection alive?
            except Exception as exc:  # connection lost: retry
                if not self._stop.is_set():
                    self.state = f"down: {type(exc).__name__}"
                    self._log.warning("%s lost: %s", self.thread_name, exc, extra={"event": self.down_event})
            finally:
                self._not_listening()
                try:
                    self._connection.close()
                except Exception:
                    pass
                self._connection = None
            self._stop.wait(delay)
